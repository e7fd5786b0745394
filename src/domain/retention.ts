/**
 * Retention rules, pure: the policy type, how durations and sizes are written, and how the
 * bytes of a stored event are counted. The stores apply the policy (their `expire` step);
 * this module only defines it.
 *
 * - `maxAgeMs`: an event expires once its `processed_at` is older than this (null: never).
 * - `maxBytes`: the oldest events expire while the stored events count more bytes (null: no
 *   bound). Bytes are those of `eventBytes`, tracked in the store's counters.
 * - `dedupWindowMs`: a dedup key may be forgotten once it is older than this AND its event is
 *   gone (null: keys are kept forever, dedup is permanent). A key is never forgotten while
 *   its event is retained, so one (topic, event_id) never has two retained events.
 *
 * Expiry always removes a prefix of the offsets (oldest first): the retained events are the
 * offsets above a floor, so a cursor below the floor continues from the oldest retained one.
 */

export interface RetentionPolicy {
  readonly maxAgeMs: number | null;
  readonly maxBytes: number | null;
  readonly dedupWindowMs: number | null;
}

export const KEEP_FOREVER: RetentionPolicy = Object.freeze({
  maxAgeMs: null,
  maxBytes: null,
  dedupWindowMs: null,
});

/** True when the policy never removes anything (no expiry loop is needed). */
export function keepsEverything(p: RetentionPolicy): boolean {
  return p.maxAgeMs === null && p.maxBytes === null && p.dedupWindowMs === null;
}

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/**
 * `90s`, `30m`, `12h`, `7d` (also `ms`, `w`) to milliseconds; `forever` to null. A plain
 * number is refused: "7" could mean seconds or days, and a silent guess would delete data.
 * Returns an error text (no throw) so the caller can name its variable.
 */
export function parseDuration(
  text: string,
): { ok: true; ms: number | null } | { ok: false; error: string } {
  const t = text.trim().toLowerCase();
  if (t === 'forever') return { ok: true, ms: null };
  const m = /^(\d{1,12})(ms|s|m|h|d|w)$/.exec(t);
  const unit = m === null ? undefined : DURATION_UNITS[m[2] ?? ''];
  if (m === null || unit === undefined) {
    return {
      ok: false,
      error: `must be a duration such as 90s, 30m, 12h, 7d or "forever", got "${text}"`,
    };
  }
  const ms = Number(m[1]) * unit;
  if (ms < 1_000 || !Number.isSafeInteger(ms)) {
    return { ok: false, error: `must be at least 1s and at most ~285,000 years, got "${text}"` };
  }
  return { ok: true, ms };
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/**
 * Plain bytes (`5000000`) or with a suffix: `KB`/`MB`/`GB`/`TB` are powers of 1000 and
 * `KiB`/`MiB`/`GiB`/`TiB` powers of 1024 (case-insensitive); `none` means no bound.
 */
export function parseSize(
  text: string,
): { ok: true; bytes: number | null } | { ok: false; error: string } {
  const t = text.trim().toLowerCase();
  if (t === 'none') return { ok: true, bytes: null };
  const m = /^(\d{1,15}(?:\.\d{1,6})?)\s*([kmgt]i?b|b)?$/.exec(t);
  const unit = m === null ? undefined : SIZE_UNITS[m[2] ?? ''];
  if (m === null || unit === undefined) {
    return {
      ok: false,
      error: `must be a size such as 500000000, 500MB, 2GB or 1GiB, got "${text}"`,
    };
  }
  const bytes = Math.floor(Number(m[1]) * unit);
  if (bytes < 1 || !Number.isSafeInteger(bytes)) {
    return { ok: false, error: `must be at least 1 byte and below 2^53, got "${text}"` };
  }
  return { ok: true, bytes };
}

/**
 * The bytes an event counts against RETENTION_MAX_BYTES: the UTF-8 bytes of topic, event_id,
 * timestamp, source and payload text, as the store keeps them. Row, index and key overhead
 * are not counted (README: what the data dir holds on top of this). Every store computes the
 * same figure (SQLite: length(CAST(x AS BLOB)); PostgreSQL: octet_length).
 */
export function eventBytes(e: {
  readonly topic: string;
  readonly event_id: string;
  readonly timestamp: string;
  readonly source: string;
  readonly payload: string;
}): number {
  return (
    Buffer.byteLength(e.topic) +
    Buffer.byteLength(e.event_id) +
    Buffer.byteLength(e.timestamp) +
    Buffer.byteLength(e.source) +
    Buffer.byteLength(e.payload)
  );
}
