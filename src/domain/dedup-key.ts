/**
 * The compact dedup key that outlives its event: the first 16 bytes (128 bits) of
 * SHA-256(UTF-8 topic, 0x00, UTF-8 event_id). A topic can never hold U+0000 (its alphabet
 * is fixed), so two different (topic, event_id) pairs never hash the same input.
 *
 * Cost: 16 bytes of key instead of up to 400 characters of topic + event_id, so the key
 * store's size per key is fixed (README "Retention": ~40 bytes per key on disk in SQLite,
 * measured, with its offset and first-seen time).
 *
 * Collisions: two different keys sharing a hash would make the second a false duplicate
 * (dropped, counted and logged as one). For n keys the odds are about n^2 / 2^129: at 10^10
 * keys, 10^20 / 6.8e38 ~ 1.5e-19, far below the odds of undetected disk or memory corruption
 * over the same data (which the store does not defend against either), so we accept them.
 *
 * Both stores compute it the same way: here for every apply, and in SQL only in the
 * migrations that move existing events' keys into the key store.
 */
import { hash } from 'node:crypto';

export const DEDUP_KEY_BYTES = 16;

export function dedupKeyHash(topic: string, eventId: string): Buffer {
  return hash('sha256', `${topic}\u0000${eventId}`, 'buffer').subarray(0, DEDUP_KEY_BYTES);
}
