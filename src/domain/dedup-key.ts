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
 * in PostgreSQL's apply_batch and in the migrations that move existing events' keys.
 */
import { hash } from 'node:crypto';

export const DEDUP_KEY_PREFIX_BYTES = 8;
export const DEDUP_KEY_HASH_BYTES = 16;
export const DEDUP_KEY_BYTES = DEDUP_KEY_PREFIX_BYTES + DEDUP_KEY_HASH_BYTES;

export function dedupKeyHash(topic: string, eventId: string): Buffer {
  const key = Buffer.alloc(DEDUP_KEY_BYTES);
  // Raw bytes, a character cut in two included, exactly as PostgreSQL's substring of
  // convert_to(event_id, 'UTF8') takes them (validation guarantees well-formed Unicode).
  Buffer.from(eventId, 'utf8').copy(key, 0, 0, DEDUP_KEY_PREFIX_BYTES);
  hash('sha256', `${topic}\u0000${eventId}`, 'buffer').copy(
    key,
    DEDUP_KEY_PREFIX_BYTES,
    0,
    DEDUP_KEY_HASH_BYTES,
  );
  return key;
}
