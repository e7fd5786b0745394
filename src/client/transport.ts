/**
 * HTTP transport: one keep-alive undici Pool per base URL, round-robin over them, and one
 * attempt of a request turned into a typed outcome. It knows nothing of retries or batches.
 *
 * Endpoint states: `up` -> (connection-level failure) -> `down until t` -> (t passes) -> `up`.
 * A down endpoint is skipped while another is up; when all are down the one that comes back
 * first is tried anyway, so a single-URL publisher never stalls on its own bookkeeping.
 */
import { Pool } from 'undici';
import { AttemptError, PublisherError, RejectedError, type RejectionDetail } from './errors.js';
import { parseRetryAfter } from './backoff.js';

export interface TransportOptions {
  readonly urls: readonly string[];
  /** Keep-alive connections per endpoint. */
  readonly connections: number;
  /** Whole request (connect, send, response headers and body), ms. */
  readonly requestTimeoutMs: number;
  readonly apiKey?: string;
  /** How long a failed endpoint is avoided, ms. */
  readonly downMs?: number;
  readonly now?: () => number;
}

interface Endpoint {
  readonly url: string;
  readonly basePath: string;
  readonly pool: Pool;
  downUntil: number;
}

export interface Response {
  readonly status: number;
  readonly url: string;
  readonly body: unknown;
  readonly retryAfterMs: number | undefined;
}

/** Errors that mean the request never reached the server, so it cannot have enqueued it. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  // Happy-eyeballs connects fail with an AggregateError whose members carry the code.
  const errors = (err as { errors?: unknown }).errors;
  if (Array.isArray(errors)) return errorCode(errors[0]);
  return errorCode((err as { cause?: unknown }).cause);
}

export function normaliseBaseUrl(raw: string): { origin: string; basePath: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (cause) {
    throw new TypeError(`invalid URL: ${raw}`, { cause });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`unsupported URL scheme (want http or https): ${raw}`);
  }
  return { origin: url.origin, basePath: url.pathname.replace(/\/+$/, '') };
}

export class Transport {
  readonly #endpoints: readonly Endpoint[];
  readonly #options: TransportOptions;
  readonly #now: () => number;
  #next = 0;

  constructor(options: TransportOptions) {
    if (options.urls.length === 0) throw new TypeError('at least one URL is required');
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#endpoints = options.urls.map((raw) => {
      const { origin, basePath } = normaliseBaseUrl(raw);
      const pool = new Pool(origin, {
        connections: options.connections,
        pipelining: 1,
        connect: { timeout: options.requestTimeoutMs },
        // Our own whole-request timer fires first and reports `timeout`; these are a backstop.
        headersTimeout: options.requestTimeoutMs + 1_000,
        bodyTimeout: options.requestTimeoutMs + 1_000,
      });
      return { url: origin + basePath, basePath, pool, downUntil: 0 };
    });
  }

  #pick(): Endpoint {
    const now = this.#now();
    const n = this.#endpoints.length;
    let fallback: Endpoint | undefined;
    for (let i = 0; i < n; i++) {
      const ep = this.#endpoints[(this.#next + i) % n];
      if (ep === undefined) continue;
      if (ep.downUntil <= now) {
        this.#next = (this.#next + i + 1) % n;
        return ep;
      }
      if (fallback === undefined || ep.downUntil < fallback.downUntil) fallback = ep;
    }
    this.#next = (this.#next + 1) % n;
    // n >= 1 and every endpoint is either returned above or a fallback candidate.
    return fallback as Endpoint;
  }

  /**
   * One request to the next endpoint. Resolves with any HTTP response; rejects with an
   * AttemptError on a network failure or timeout, or PublisherError('aborted').
   */
  async request(
    method: 'GET' | 'POST',
    path: string,
    body: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    const ep = this.#pick();
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.#options.requestTimeoutMs);
    const onAbort = (): void => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.#options.apiKey !== undefined)
      headers.authorization = `Bearer ${this.#options.apiKey}`;
    try {
      const res = await ep.pool.request({
        method,
        path: ep.basePath + path,
        headers,
        body,
        signal: controller.signal,
      });
      // Always drain the body: an unread body pins the keep-alive connection.
      const text = await res.body.text();
      let parsed: unknown = undefined;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        parsed = text;
      }
      return {
        status: res.statusCode,
        url: ep.url,
        body: parsed,
        retryAfterMs: parseRetryAfter(res.headers['retry-after'], this.#now()),
      };
    } catch (err) {
      if (signal?.aborted === true) throw new PublisherError('aborted', 'aborted', { cause: err });
      if (timedOut) {
        throw new AttemptError(
          'timeout',
          `${ep.url}: no response within ${this.#options.requestTimeoutMs} ms`,
          {
            maybeDelivered: body !== undefined,
            cause: err,
          },
        );
      }
      const code = errorCode(err);
      const notSent = code !== undefined && NOT_SENT_CODES.has(code);
      if (notSent) ep.downUntil = this.#now() + (this.#options.downMs ?? 1_000);
      const reason = err instanceof Error ? err.message || err.name : String(err);
      throw new AttemptError('network', `${ep.url}: ${code ?? reason}`, {
        maybeDelivered: !notSent && body !== undefined,
        cause: err,
      });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Number of endpoints. */
  get size(): number {
    return this.#endpoints.length;
  }

  async close(): Promise<void> {
    await Promise.all(this.#endpoints.map((ep) => ep.pool.close()));
  }

  async destroy(): Promise<void> {
    await Promise.all(this.#endpoints.map((ep) => ep.pool.destroy()));
  }
}

function asDetails(value: unknown): RejectionDetail[] {
  if (!Array.isArray(value)) return [];
  const out: RejectionDetail[] = [];
  for (const item of value as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const d = item as { index?: unknown; field?: unknown; message?: unknown };
    out.push({
      ...(typeof d.index === 'number' ? { index: d.index } : {}),
      ...(typeof d.field === 'string' ? { field: d.field } : {}),
      message: typeof d.message === 'string' ? d.message : JSON.stringify(item),
    });
  }
  return out;
}

/**
 * Maps a non-2xx response to its error: 4xx (but 408 and 429) is a RejectedError, final;
 * 503, 408, 429 and other 5xx are retryable AttemptErrors.
 */
export function responseError(res: Response): PublisherError {
  const body = (typeof res.body === 'object' && res.body !== null ? res.body : {}) as {
    error?: unknown;
    message?: unknown;
    details?: unknown;
  };
  const serverCode = typeof body.error === 'string' ? body.error : undefined;
  const message =
    typeof body.message === 'string' ? body.message : typeof res.body === 'string' ? res.body : '';
  const summary = `${res.url}: HTTP ${res.status}${serverCode ? ` ${serverCode}` : ''}${message ? `: ${message}` : ''}`;
  if (res.status === 503 || res.status === 429 || res.status === 408) {
    // queue_full (backpressure) is decided before anything is written, and 408/429 refuse
    // the work. logsieve answers an unknown outcome with 504 outcome_unknown (below), but a
    // 503 'unavailable' may still come from a proxy in front of it, or from a failed log
    // write that reached the disk, so the events may have been taken after all.
    return new AttemptError('unavailable', summary, {
      status: res.status,
      maybeDelivered: res.status === 503 && serverCode !== 'queue_full',
      ...(res.retryAfterMs === undefined ? {} : { retryAfterMs: res.retryAfterMs }),
    });
  }
  if (res.status >= 400 && res.status < 500) {
    return new RejectedError(
      res.status,
      serverCode,
      message || 'rejected',
      asDetails(body.details),
    );
  }
  return new AttemptError('server_error', summary, {
    status: res.status,
    // A 500 may come after the enqueue committed; assume it might have.
    maybeDelivered: true,
    ...(res.retryAfterMs === undefined ? {} : { retryAfterMs: res.retryAfterMs }),
  });
}
