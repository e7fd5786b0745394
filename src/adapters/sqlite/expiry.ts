/**
 * The SQLite expiry step (store.ts runs it in an IMMEDIATE transaction and mirrors what it
 * returns in its counters): the oldest rows while they are past RETENTION_MAX_AGE or the store
 * is over RETENTION_MAX_BYTES, then, with DEDUP_WINDOW, one step of the key sweep. Deletes and
 * counter moves happen in the caller's one transaction, so a crash keeps all or none.
 *
 * States of the key sweep: between sweeps (cursor null) -> sweeping (cursor = last key seen)
 * -> between sweeps. The cursor lives in memory; a restart begins a new sweep.
 */
import type { Database as DB, Statement } from 'better-sqlite3';
import type { RetentionPolicy } from '../../domain/retention.js';
import type { ExpiryStep } from '../../ports/store.js';

/**
 * Rows per expiry step. A step of 2,000 rows (deletes from the table and its two indexes)
 * takes a few milliseconds, so an apply queued behind it waits about as long as behind one
 * more batch.
 */
export const EXPIRY_STEP_ROWS = 2_000;
/** Keys examined per DEDUP_WINDOW sweep step (a key-order walk of dedup_keys). */
export const KEY_SWEEP_ROWS = 5_000;

/** SQL for eventBytes (src/domain/retention.ts): octet_length is UTF-8 bytes of a TEXT. */
const ROW_BYTES = `(octet_length(topic) + octet_length(event_id) + octet_length(timestamp)
  + octet_length(source) + octet_length(payload))`;

/** An expiry step plus the bytes it removed (the store mirrors them). */
export interface SqliteExpiryStep extends ExpiryStep {
  readonly bytes: number;
}

export class SqliteExpiry {
  private readonly rowExists: Statement<[number], number>;
  private readonly oldest: Statement<
    [number],
    { offset: number; topic: string; processed_at: string; bytes: number }
  >;
  private readonly deleteUpTo: Statement<[number]>;
  private readonly expireCounters: Statement<[{ rows: number; bytes: number }]>;
  private readonly expireTopic: Statement<[number, string]>;
  private readonly keysAfter: Statement<
    [Buffer, number],
    { key: Buffer; offset: number; first_seen: number }
  >;
  private readonly deleteKey: Statement<[Buffer]>;
  /** Where the DEDUP_WINDOW sweep continues (key order); null between sweeps. */
  private sweepAfter: Buffer | null = Buffer.alloc(0);
  private sweepEndedAt = 0;

  constructor(
    db: DB,
    private readonly retention: RetentionPolicy,
    private readonly duringExpiry?: () => void,
  ) {
    this.rowExists = db
      .prepare<[number], number>('SELECT 1 FROM events WHERE "offset" = ?')
      .pluck();
    // The oldest retained rows: a range scan from the start of the rowid B-tree.
    this.oldest = db.prepare(
      `SELECT "offset", topic, processed_at, ${ROW_BYTES} AS bytes
       FROM events ORDER BY "offset" LIMIT ?`,
    );
    this.deleteUpTo = db.prepare('DELETE FROM events WHERE "offset" <= ?');
    this.expireCounters = db.prepare(
      `UPDATE counters SET stored = stored - @rows, expired = expired + @rows,
         stored_bytes = stored_bytes - @bytes WHERE id = 1`,
    );
    this.expireTopic = db.prepare('UPDATE topics SET stored = stored - ? WHERE topic = ?');
    this.keysAfter = db.prepare(
      'SELECT key, "offset", first_seen FROM dedup_keys WHERE key > ? ORDER BY key LIMIT ?',
    );
    this.deleteKey = db.prepare('DELETE FROM dedup_keys WHERE key = ?');
  }

  /**
   * One step: the oldest rows while they are past RETENTION_MAX_AGE or the store is over
   * RETENTION_MAX_BYTES, at most EXPIRY_STEP_ROWS; then, with DEDUP_WINDOW, one step of the
   * key sweep. A prefix of the offsets only: the first row to keep ends the step, so the
   * retained events are always the offsets above a floor.
   */
  step(now: Date, storedBytes: number): SqliteExpiryStep {
    const { maxAgeMs, maxBytes, dedupWindowMs } = this.retention;
    const cutoff = maxAgeMs === null ? null : new Date(now.getTime() - maxAgeMs).toISOString();
    let expired = 0;
    let bytes = 0;
    let more = false;
    if (cutoff !== null || maxBytes !== null) {
      let left = storedBytes;
      let upTo = 0;
      const perTopic = new Map<string, number>();
      // Iterated, not fetched: the usual step finds the first row still young and stops.
      for (const row of this.oldest.iterate(EXPIRY_STEP_ROWS)) {
        const old = cutoff !== null && row.processed_at < cutoff;
        const over = maxBytes !== null && left > maxBytes;
        if (!old && !over) break;
        expired++;
        bytes += row.bytes;
        left -= row.bytes;
        upTo = row.offset;
        perTopic.set(row.topic, (perTopic.get(row.topic) ?? 0) + 1);
      }
      if (expired > 0) {
        this.deleteUpTo.run(upTo);
        this.duringExpiry?.();
        this.expireCounters.run({ rows: expired, bytes });
        for (const [topic, n] of perTopic) this.expireTopic.run(n, topic);
      }
      more = expired === EXPIRY_STEP_ROWS;
    }
    let keysForgotten = 0;
    if (dedupWindowMs !== null) {
      const swept = this.sweepKeys(now, dedupWindowMs);
      keysForgotten = swept.forgotten;
      more ||= swept.more;
    }
    return { expired, keysForgotten, more, bytes };
  }

  /**
   * DEDUP_WINDOW: walks dedup_keys in key order, KEY_SWEEP_ROWS per step, forgetting keys
   * first seen before the window whose event is gone (a retained event keeps its key). A
   * new sweep starts a quarter window after the last one ended, so a key is forgotten at
   * most ~1.25 windows plus one sweep after it was first seen. The cursor is in memory: a
   * restart begins a new sweep, which only delays forgetting.
   */
  private sweepKeys(now: Date, windowMs: number): { forgotten: number; more: boolean } {
    if (this.sweepAfter === null) {
      if (now.getTime() - this.sweepEndedAt < windowMs / 4) return { forgotten: 0, more: false };
      this.sweepAfter = Buffer.alloc(0);
    }
    const forgetBefore = Math.floor((now.getTime() - windowMs) / 1000);
    const rows = this.keysAfter.all(this.sweepAfter, KEY_SWEEP_ROWS);
    let forgotten = 0;
    for (const row of rows) {
      if (row.first_seen < forgetBefore && this.rowExists.get(row.offset) === undefined) {
        this.deleteKey.run(row.key);
        forgotten++;
      }
    }
    const last = rows.at(-1);
    if (rows.length < KEY_SWEEP_ROWS || last === undefined) {
      this.sweepAfter = null;
      this.sweepEndedAt = now.getTime();
      return { forgotten, more: false };
    }
    this.sweepAfter = last.key;
    return { forgotten, more: true };
  }
}
