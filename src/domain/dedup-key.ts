/**
 * The compact dedup key that outlives its event, 24 bytes:
 *
 *   [ first 8 UTF-8 bytes of event_id, zero-padded ][ first 16 bytes of SHA-256(topic, 0x00, event_id) ]
 *
 * The hash alone decides identity: the prefix is a function of the key, so two different
 * (topic, event_id) pairs share a key only if their 128-bit hashes collide. A topic can never
 * hold U+0000 (its alphabet is fixed), so two different pairs never hash the same input.
 *
 * Why the prefix: a B-tree of pure hashes puts every new key on a random page, so once the
 * key store outgrows the page cache every insert reads and dirties a random page (and the
 * WAL grows by a page per key). Ids that grow with time (UUID v7: their first 8 characters
 * are the top 32 bits of the millisecond clock, so they change every ~65 s; sequential or
 * time-prefixed ids) keep their keys in a small, recent part of the tree this way, as a text
 * index on the ids would, at a fixed 24 bytes. Random ids (UUID v4) land anywhere either way.
 *
 * Cost: 24 bytes of key instead of up to 400 characters of topic + event_id (README
 * "Retention": ~42 bytes per key on disk in SQLite with its offset and first-seen time).
 *
 * Collisions: two different keys sharing a hash would make the second a false duplicate
 * (dropped, counted and logged as one). For n keys the odds are at most about n^2 / 2^129: at
 * 10^10 keys, 10^20 / 6.8e38 ~ 1.5e-19, far below the odds of undetected disk or memory
 * corruption over the same data (which the store does not defend against either).
 *
 * Both stores compute it the same way: here for SQLite applies and every lookup, and in SQL
 * in PostgreSQL's apply_batch and in the migrations that move existing events' keys. The
 * hash is SHA-256 in plain JavaScript (sha256.ts: the same digest, so keys already stored
 * stay valid). Building a key with node:crypto took ~2 us of the ~9.5 us an apply spent per
 * event (scripts/apply-ab.mjs, W1's mix); writing it into a per-batch buffer takes ~0.6 us.
 */
import { sha256Into } from './sha256.js';

export const DEDUP_KEY_PREFIX_BYTES = 8;
export const DEDUP_KEY_HASH_BYTES = 16;
export const DEDUP_KEY_BYTES = DEDUP_KEY_PREFIX_BYTES + DEDUP_KEY_HASH_BYTES;

/** The key of (topic, event_id) in a new 24-byte Buffer (lookups, SQL functions). */
export function dedupKeyHash(topic: string, eventId: string): Buffer {
  const key = Buffer.allocUnsafe(DEDUP_KEY_BYTES);
  writeDedupKey(topic, eventId, key, 0);
  return key;
}

/** UTF-8 of `topic`, U+0000, `eventId`, with room for SHA-256 padding; grown on demand. */
let scratch = new Uint8Array(256);
const encoder = new TextEncoder();

/**
 * Writes the key of (topic, event_id) into `out[at, at + 24)`: the apply path puts a batch's
 * keys side by side in one buffer instead of allocating one per event.
 */
export function writeDedupKey(topic: string, eventId: string, out: Uint8Array, at: number): void {
  // A UTF-16 code unit is at most 3 UTF-8 bytes; 72 covers the NUL and the padding.
  const room = (topic.length + eventId.length) * 3 + 72;
  if (scratch.length < room) scratch = new Uint8Array(room * 2);
  const buf = scratch;
  let n = writeUtf8(topic, buf, 0);
  buf[n++] = 0;
  const idAt = n;
  n = writeUtf8(eventId, buf, n);
  // Raw bytes, a character cut in two included, exactly as PostgreSQL's substring of
  // convert_to(event_id, 'UTF8') takes them (validation guarantees well-formed Unicode).
  const prefix = Math.min(n - idAt, DEDUP_KEY_PREFIX_BYTES);
  for (let i = 0; i < prefix; i++) out[at + i] = buf[idAt + i] ?? 0;
  out.fill(0, at + prefix, at + DEDUP_KEY_PREFIX_BYTES);
  sha256Into(buf, n, out, at + DEDUP_KEY_PREFIX_BYTES, DEDUP_KEY_HASH_BYTES);
}

/** UTF-8 of `s` at `buf[at]` (room checked by the caller); returns the end. */
function writeUtf8(s: string, buf: Uint8Array, at: number): number {
  // Ids and topics are ASCII in practice: one loop, no native call.
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return at + i + encoder.encodeInto(s.slice(i), buf.subarray(at + i)).written;
    buf[at + i] = c;
  }
  return at + s.length;
}
