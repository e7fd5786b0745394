/**
 * Publisher: batches events, sends each batch with retries, and reports what happened.
 *
 * Batch life: `open` (collecting; sealed by size, bytes or the linger timer, or flush())
 * -> `queued` (waiting for one of `maxInFlight` request slots) -> `in flight` (attempts with
 * backoff) -> `acked` | `failed`. A retry resends the very same bytes: the server dedups by
 * (topic, event_id), so a resend after an ambiguous failure costs a duplicate, never a loss.
 *
 * Publisher life: `open` -> close() -> `closing` (flushes, publish() rejects `closed`) ->
 * `closed` (connections released).
 */
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { AttemptError, PublisherError, RetriesExhaustedError } from './errors.js';
import { responseError, Transport } from './transport.js';
import type { PublishEvent, PublisherCounters, RequestInfo, ServerStats } from './types.js';

export interface PublisherOptions {
  /** One base URL or several (round-robin, with failover to the others). */
  readonly url: string | readonly string[];
  /** Sent as `Authorization: Bearer <apiKey>`. */
  readonly apiKey?: string;
  /** Seal a batch at this many events. Default 500. */
  readonly maxBatchEvents?: number;
  /** Seal a batch before its JSON exceeds this many bytes. Default 4 MiB. */
  readonly maxBatchBytes?: number;
  /** Longest an event waits for its batch to fill, ms. Default 20. */
  readonly lingerMs?: number;
  /** Concurrent requests (and keep-alive connections per URL). Default 4. */
  readonly maxInFlight?: number;
  /** publish() waits while this many events are buffered but not yet in flight. Default 100k. */
  readonly maxQueuedEvents?: number;
  /** One attempt, connect to last body byte, ms. Default 10 s. */
  readonly requestTimeoutMs?: number;
  /** Attempts per batch, the first included. Default 10. */
  readonly maxAttempts?: number;
  /** No retry starts later than this after a batch's first attempt, ms. Default 60 s. */
  readonly maxRetryTimeMs?: number;
  readonly backoff?: BackoffOptions;
  /** Float in [0, 1) for jitter; Math.random by default (tests pass a fixed one). */
  readonly random?: () => number;
  /** Called after every HTTP attempt. */
  readonly onRequest?: (info: RequestInfo) => void;
  /** Aborting it fails pending work with code `aborted`. */
  readonly signal?: AbortSignal;
}

export interface SendResult {
  readonly accepted: number;
  readonly attempts: number;
}

interface Batch {
  readonly parts: string[];
  bytes: number;
  readonly done: Promise<SendResult>;
  readonly resolve: (r: SendResult) => void;
  readonly reject: (e: unknown) => void;
}

type MutableCounters = { -readonly [K in keyof PublisherCounters]: PublisherCounters[K] };

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${name} must be a positive number`);
  return v;
}

function newBatch(): Batch {
  let resolve!: (r: SendResult) => void;
  let reject!: (e: unknown) => void;
  const done = new Promise<SendResult>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Failures are reported through publish(), flush() and the counters; nobody has to await.
  done.catch(() => undefined);
  return { parts: [], bytes: 2, done, resolve, reject };
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) return reject(new PublisherError('aborted', 'aborted'));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new PublisherError('aborted', 'aborted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class Publisher {
  readonly #transport: Transport;
  readonly #maxBatchEvents: number;
  readonly #maxBatchBytes: number;
  readonly #lingerMs: number;
  readonly #maxInFlight: number;
  readonly #maxQueuedEvents: number;
  readonly #maxAttempts: number;
  readonly #maxRetryTimeMs: number;
  readonly #backoff: BackoffOptions;
  readonly #random: () => number;
  readonly #onRequest: ((info: RequestInfo) => void) | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #counters: MutableCounters = {
    requests: 0,
    retries: 0,
    httpErrors: 0,
    networkErrors: 0,
    timeouts: 0,
    batchesSent: 0,
    eventsSent: 0,
    eventsAccepted: 0,
    batchesFailed: 0,
    eventsFailed: 0,
    eventsMaybeRedelivered: 0,
  };

  #open: Batch = newBatch();
  #timer: NodeJS.Timeout | undefined;
  readonly #queue: Batch[] = [];
  #queuedEvents = 0;
  #inFlight = 0;
  #failures: unknown[] = [];
  #waiters: (() => void)[] = [];
  #closing: Promise<void> | undefined;

  constructor(options: PublisherOptions) {
    const urls = typeof options.url === 'string' ? [options.url] : options.url;
    this.#maxBatchEvents = positive('maxBatchEvents', options.maxBatchEvents, 500);
    this.#maxBatchBytes = positive('maxBatchBytes', options.maxBatchBytes, 4 * 1024 * 1024);
    this.#lingerMs = options.lingerMs ?? 20;
    this.#maxInFlight = positive('maxInFlight', options.maxInFlight, 4);
    this.#maxQueuedEvents = positive('maxQueuedEvents', options.maxQueuedEvents, 100_000);
    this.#maxAttempts = positive('maxAttempts', options.maxAttempts, 10);
    this.#maxRetryTimeMs = positive('maxRetryTimeMs', options.maxRetryTimeMs, 60_000);
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#random = options.random ?? Math.random;
    this.#onRequest = options.onRequest;
    this.#signal = options.signal;
    this.#transport = new Transport({
      urls,
      connections: this.#maxInFlight,
      requestTimeoutMs: positive('requestTimeoutMs', options.requestTimeoutMs, 10_000),
      ...(options.apiKey === undefined ? {} : { apiKey: options.apiKey }),
    });
  }

  /** A snapshot of the counters. */
  counters(): PublisherCounters {
    return { ...this.#counters };
  }

  /**
   * Adds events to the current batch. Resolves when the server has acknowledged all of
   * them; rejects with a RejectedError, RetriesExhaustedError or PublisherError. The promise
   * may be ignored: flush() and close() report failures too.
   */
  publish(events: PublishEvent | readonly PublishEvent[]): Promise<void> {
    const done = this.#publish(events);
    // Marked handled so that an ignored promise cannot crash the process (unhandledRejection);
    // a caller who awaits it still sees the rejection.
    done.catch(() => undefined);
    return done;
  }

  async #publish(events: PublishEvent | readonly PublishEvent[]): Promise<void> {
    const list: readonly PublishEvent[] = Array.isArray(events)
      ? (events as readonly PublishEvent[])
      : [events as PublishEvent];
    // Serialise first: an event JSON cannot encode (a BigInt, a cycle) fails the whole call
    // before anything is buffered.
    const parts = list.map((e) => JSON.stringify(e));
    while (this.#queuedEvents > 0 && this.#queuedEvents + list.length > this.#maxQueuedEvents) {
      if (this.#closing !== undefined) break;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    if (this.#closing !== undefined) throw new PublisherError('closed', 'publisher is closed');
    const touched = new Set<Batch>();
    for (const json of parts) {
      const size = Buffer.byteLength(json) + 1;
      const b = this.#open;
      if (b.parts.length > 0 && b.bytes + size > this.#maxBatchBytes) this.#seal();
      this.#open.parts.push(json);
      this.#open.bytes += size;
      this.#queuedEvents += 1;
      touched.add(this.#open);
      if (this.#open.parts.length >= this.#maxBatchEvents) this.#seal();
    }
    if (this.#open.parts.length > 0 && this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#seal(), this.#lingerMs);
    }
    await Promise.all([...touched].map((b) => b.done));
  }

  /** Sends what is buffered now and waits for every batch; rejects with the first failure. */
  async flush(): Promise<void> {
    // Seal again after every wake-up: a publish() that was waiting for room may have added.
    for (this.#seal(); this.#queue.length > 0 || this.#inFlight > 0; this.#seal()) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    const failures = this.#failures;
    this.#failures = [];
    if (failures.length > 0) throw failures[0];
  }

  /**
   * Sends one batch exactly as given (no buffering), with retries. The CLI uses it to control
   * which events share a request.
   */
  async send(events: readonly PublishEvent[]): Promise<SendResult> {
    if (events.length === 0) return { accepted: 0, attempts: 0 };
    const body = `[${events.map((e) => JSON.stringify(e)).join(',')}]`;
    try {
      return await this.#sendBody(body, events.length);
    } catch (err) {
      this.#counters.batchesFailed += 1;
      this.#counters.eventsFailed += events.length;
      throw err;
    }
  }

  /** GET /stats from the first endpoint that answers. */
  async fetchStats(): Promise<ServerStats> {
    let last: unknown;
    for (let i = 0; i < Math.max(1, this.#transport.size); i++) {
      try {
        // No abort signal: an interrupted run still wants its final /stats for the report.
        const res = await this.#transport.request('GET', '/stats', undefined, undefined);
        if (res.status !== 200) throw responseError(res);
        return res.body as ServerStats;
      } catch (err) {
        last = err;
        if (!(err instanceof AttemptError)) throw err;
      }
    }
    throw last;
  }

  /** Flushes, then releases the connections. Rejects like flush() if a batch failed. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await this.flush();
      } finally {
        await this.#transport.close();
      }
    })();
    return this.#closing;
  }

  #seal(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#open.parts.length === 0) return;
    this.#queue.push(this.#open);
    this.#open = newBatch();
    this.#pump();
  }

  #pump(): void {
    while (this.#inFlight < this.#maxInFlight) {
      const batch = this.#queue.shift();
      if (batch === undefined) break;
      this.#inFlight += 1;
      this.#queuedEvents -= batch.parts.length;
      const n = batch.parts.length;
      this.#sendBody(`[${batch.parts.join(',')}]`, n)
        .then(
          (result) => batch.resolve(result),
          (err: unknown) => {
            this.#counters.batchesFailed += 1;
            this.#counters.eventsFailed += n;
            this.#failures.push(err);
            batch.reject(err);
          },
        )
        .finally(() => {
          this.#inFlight -= 1;
          this.#pump();
          this.#wake();
        });
    }
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  async #sendBody(body: string, events: number): Promise<SendResult> {
    const c = this.#counters;
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      c.requests += 1;
      const t0 = performance.now();
      let error: PublisherError;
      let status: number | undefined;
      let url = '';
      try {
        const res = await this.#transport.request('POST', '/publish', body, this.#signal);
        status = res.status;
        url = res.url;
        if (res.status >= 200 && res.status < 300) {
          const accepted = (res.body as { accepted?: unknown } | undefined)?.accepted;
          const n = typeof accepted === 'number' ? accepted : events;
          c.batchesSent += 1;
          c.eventsSent += events;
          c.eventsAccepted += n;
          this.#report({
            url,
            attempt,
            events,
            durationMs: performance.now() - t0,
            status,
            error: undefined,
          });
          return { accepted: n, attempts: attempt };
        }
        c.httpErrors += 1;
        error = responseError(res);
      } catch (err) {
        error =
          err instanceof PublisherError
            ? err
            : new PublisherError('network', String(err), { cause: err });
        if (error.code === 'network' || error.code === 'timeout') c.networkErrors += 1;
        if (error.code === 'timeout') c.timeouts += 1;
      }
      this.#report({ url, attempt, events, durationMs: performance.now() - t0, status, error });
      if (!(error instanceof AttemptError)) throw error;
      const elapsed = performance.now() - started;
      if (attempt >= this.#maxAttempts) throw new RetriesExhaustedError(attempt, elapsed, error);
      const delay = backoffDelay(attempt - 1, this.#backoff, this.#random, error.retryAfterMs);
      if (elapsed + delay > this.#maxRetryTimeMs) {
        throw new RetriesExhaustedError(attempt, elapsed, error);
      }
      c.retries += 1;
      if (error.maybeDelivered) c.eventsMaybeRedelivered += events;
      await sleep(delay, this.#signal);
    }
  }

  #report(info: RequestInfo): void {
    try {
      this.#onRequest?.(info);
    } catch {
      // An observer's bug must not fail a batch the server accepted.
    }
  }
}

export function createPublisher(options: PublisherOptions): Publisher {
  return new Publisher(options);
}
