/**
 * Retry timing: exponential backoff with full jitter (AWS Architecture Blog, "Exponential
 * Backoff and Jitter"): the n-th retry waits a uniformly random time in [0, min(cap, base·2^n)),
 * which spreads a crowd of publishers that failed together instead of letting them return
 * in lockstep. A server's `Retry-After` is a floor: we wait at least that long, plus up to
 * 20 % more so that the clients it throttled do not all come back in the same millisecond.
 */

export interface BackoffOptions {
  /** First retry's upper bound, ms. */
  readonly baseMs: number;
  /** Upper bound of any computed delay, ms. */
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 100, maxMs: 5_000 };
/** A Retry-After beyond this is treated as this, so a wrong header cannot stall us for hours. */
export const MAX_RETRY_AFTER_MS = 60_000;

/**
 * Delay before retry number `retry` (0 = first retry). `random` returns a float in [0, 1).
 */
export function backoffDelay(
  retry: number,
  options: BackoffOptions,
  random: () => number,
  retryAfterMs?: number,
): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(retry, 30));
  const jitter = random() * ceiling;
  if (retryAfterMs === undefined) return jitter;
  const floor = Math.min(retryAfterMs, MAX_RETRY_AFTER_MS);
  return Math.max(jitter, floor + random() * floor * 0.2);
}

/**
 * `Retry-After` as milliseconds: either delay-seconds (RFC 9110 §10.2.3, we also accept a
 * fraction) or an HTTP-date. Undefined when absent or unreadable.
 */
export function parseRetryAfter(
  value: string | readonly string[] | undefined,
  nowMs: number,
): number | undefined {
  const text = (typeof value === 'string' ? value : value?.[0])?.trim();
  if (text === undefined || text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}
