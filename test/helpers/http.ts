/** Small HTTP helpers over the global fetch: JSON in, status + parsed JSON out. */
import type { Static } from '@sinclair/typebox';
import type { StatsSchema } from '../../src/domain/schemas.js';
import { sleep } from './tmp.js';

export interface JsonResponse<T = unknown> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
}

/** GET /stats as StatsSchema declares it (test/http/stats-schema.test.ts checks real answers). */
export type StatsBody = Readonly<Static<typeof StatsSchema>>;

export interface ErrorBody {
  readonly error: string;
  readonly message: string;
  readonly details: { index?: number; field?: string; message: string }[];
}

export interface StoredEventBody {
  readonly offset: number;
  readonly topic: string;
  readonly event_id: string;
  readonly timestamp: string;
  readonly source: string;
  readonly payload: Record<string, unknown>;
  readonly processed_at: string;
}

async function parse<T>(res: Response): Promise<JsonResponse<T>> {
  const text = await res.text();
  let body: unknown = text;
  if (text.length > 0) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  return { status: res.status, headers: res.headers, body: body as T };
}

export async function getJson<T = unknown>(url: string): Promise<JsonResponse<T>> {
  return parse<T>(await fetch(url));
}

/** POSTs `body` as JSON (or raw when a string/bytes is given with explicit headers). */
export async function postJson<T = unknown>(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse<T>> {
  const raw = typeof body === 'string' || body instanceof Uint8Array;
  const res = await fetch(url, {
    method: 'POST',
    headers: raw ? headers : { 'content-type': 'application/json', ...headers },
    body: raw ? body : JSON.stringify(body),
  });
  return parse<T>(res);
}

export async function stats(baseUrl: string): Promise<StatsBody> {
  const res = await getJson<StatsBody>(`${baseUrl}/stats`);
  if (res.status !== 200) throw new Error(`/stats answered ${res.status}`);
  return res.body;
}

/**
 * Polls /stats until queue_depth is 0 (bounded: gives up after `timeoutMs`) and returns the
 * last sample.
 */
export async function waitIdle(baseUrl: string, timeoutMs = 30_000): Promise<StatsBody> {
  const intervalMs = 20;
  for (let i = 0; i < Math.ceil(timeoutMs / intervalMs); i++) {
    const s = await stats(baseUrl);
    if (s.queue_depth === 0) return s;
    await sleep(intervalMs);
  }
  throw new Error(`queue not idle after ${timeoutMs} ms`);
}

/** Pages GET /events with `after` until a short page; returns every row in order. */
export async function allEvents(
  baseUrl: string,
  query: Record<string, string> = {},
  limit = 10_000,
): Promise<StoredEventBody[]> {
  const rows: StoredEventBody[] = [];
  let after = 0;
  for (let page = 0; page < 10_000; page++) {
    const params = new URLSearchParams({ ...query, after: String(after), limit: String(limit) });
    const res = await getJson<StoredEventBody[]>(`${baseUrl}/events?${params.toString()}`);
    if (res.status !== 200) throw new Error(`/events answered ${res.status}`);
    rows.push(...res.body);
    const last = res.body.at(-1);
    if (last === undefined || res.body.length < limit) return rows;
    after = last.offset;
  }
  throw new Error('paging /events did not end');
}
