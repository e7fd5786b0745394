/**
 * The SQLite expiry step (store.ts runs it in an IMMEDIATE transaction and mirrors what it
 * returns in its counters), in three parts, all in the caller's one transaction, so a crash
 * keeps all or none of a step:
 * 1. the floor (buckets.ts): the oldest retained rows, while they are past RETENTION_MAX_AGE or
 *    the store is over RETENTION_MAX_BYTES, are read (not deleted) in offset order, at most
 *    EXPIRY_STEP_ROWS, and the floor moves above them with the same counts moved from
 *    `stored` to `expired` (and out of `stored_bytes` and the topics' `stored`). Row-precise:
 *    `stored` is exactly what /events can return.
 * 2. the space: at most one bucket whose offsets are all at or below the floor is dropped
 *    (DROP TABLE: its pages go on the freelist and new buckets reuse them). The current
 *    bucket, once all of it expired, is first replaced by a new empty one, so an idle store
 *    frees its space too. A bucket far larger than the store's bucket size (the events table
 *    of a store upgraded by migration 4, or one written before RETENTION_MAX_AGE was set)
 *    first has its expired rows deleted, EXPIRY_DELETE_ROWS per step, until what is left of
 *    it is no more than a bucket: dropping millions of rows at once would hold the store
 *    thread for seconds.
 * 3. with DEDUP_WINDOW, one step of the key sweep.
 *
 * Why not row deletes: deleting each expired row from the table and its three indexes cost
 * about what inserting it did, on the same store thread, and halved steady ingest under
 * expiry (0.46x on a quiet machine, BENCHMARKS "Growth and retention", session 3). Reading a
 * row to count it is a sequential scan of the rowid B-tree; a drop touches each page once.
 *
 * States of the key sweep: between sweeps (cursor null) -> sweeping (cursor = last key seen)
 * -> between sweeps. The cursor lives in memory; a restart begins a new sweep.
 */
import type { Database as DB, Statement } from 'better-sqlite3';
import type { RetentionPolicy } from '../../domain/retention.js';
import type { ExpiryStep } from '../../ports/store.js';
import { BUCKET_MAX_ROWS, bucketTable, createBucket, dropBucket, type Bucket } from './buckets.js';

/**
 * Rows counted per expiry step. Counting is a read of each row (no delete): 10,000 rows take a
 * few milliseconds, so an apply queued behind a step waits about as long as behind one more
 * batch.
 */
export const EXPIRY_STEP_ROWS = 10_000;
/**
 * Rows deleted per step from an oversized bucket (see the header). A delete removes each row
 * from the table and its three indexes: 2,000 take a few milliseconds.
 */
export const EXPIRY_DELETE_ROWS = 2_000;
/** Keys examined per DEDUP_WINDOW sweep step (a key-order walk of dedup_keys). */
export const KEY_SWEEP_ROWS = 5_000;

/** SQL for eventBytes (src/domain/retention.ts): octet_length is UTF-8 bytes of a TEXT. */
const ROW_BYTES = `(octet_length(topic) + octet_length(event_id) + octet_length(timestamp)
  + octet_length(source) + octet_length(payload))`;

/** An expiry step plus the bytes it removed (the store mirrors them). */
export interface SqliteExpiryStep extends ExpiryStep {
  readonly bytes: number;
  /** The bucket the writer must insert into from now on, when the step replaced it. */
  readonly current?: Bucket;
}

interface OldRow {
  offset: number;
  topic: string;
  processed_at: string;
  bytes: number;
}

export class SqliteExpiry {
  private readonly catalogue: Statement<[], [number, number]>;
  private readonly floorOf: Statement<[], { floor: number; last: number }>;
  /** Per bucket: its oldest rows above a floor. Dropped with the bucket. */
  private readonly oldest = new Map<number, Statement<[number, number], OldRow>>();
  private readonly expireCounters: Statement<[{ rows: number; bytes: number; floor: number }]>;
  private readonly expireTopic: Statement<[number, string]>;
  private readonly keysAfter: Statement<
    [Buffer, number],
    { key: Buffer; offset: number; first_seen: number }
  >;
  private readonly deleteKey: Statement<[Buffer]>;
  /** Per bucket: the lowest offset left in it, and a delete of its rows up to an offset. */
  private readonly lowest = new Map<number, Statement<[], number | null>>();
  private readonly deleteUpTo = new Map<number, Statement<[number]>>();
  /** Where the DEDUP_WINDOW sweep continues (key order); null between sweeps. */
  private sweepAfter: Buffer | null = Buffer.alloc(0);
  private sweepEndedAt = 0;

  constructor(
    private readonly db: DB,
    private readonly retention: RetentionPolicy,
    private readonly duringExpiry?: () => void,
    /** The store's bucket size (rows); buckets above twice it are trimmed before a drop. */
    private readonly bucketRows: number = BUCKET_MAX_ROWS,
    /**
     * Called in the step's transaction before the floor moves to `floor`: the store writes the
     * keys it holds in memory (recent-keys.ts) while their event rows can still give them back.
     */
    private readonly beforeFloorMoves: (floor: number) => void = () => undefined,
  ) {
    this.catalogue = db
      .prepare<[], [number, number]>('SELECT n, first_offset FROM buckets ORDER BY n')
      .raw();
    this.floorOf = db.prepare(
      'SELECT floor_offset AS floor, last_offset AS last FROM counters WHERE id = 1',
    );
    this.expireCounters = db.prepare(
      `UPDATE counters SET stored = stored - @rows, expired = expired + @rows,
         stored_bytes = stored_bytes - @bytes, floor_offset = @floor WHERE id = 1`,
    );
    this.expireTopic = db.prepare('UPDATE topics SET stored = stored - ? WHERE topic = ?');
    this.keysAfter = db.prepare(
      'SELECT key, "offset", first_seen FROM dedup_keys WHERE key > ? ORDER BY key LIMIT ?',
    );
    this.deleteKey = db.prepare('DELETE FROM dedup_keys WHERE key = ?');
  }

  private oldestOf(n: number): Statement<[number, number], OldRow> {
    let statement = this.oldest.get(n);
    if (statement === undefined) {
      // The oldest retained rows of one bucket: a range scan of its rowid B-tree.
      statement = this.db.prepare(
        `SELECT "offset", topic, processed_at, ${ROW_BYTES} AS bytes
         FROM ${bucketTable(n)} WHERE "offset" > ? ORDER BY "offset" LIMIT ?`,
      );
      this.oldest.set(n, statement);
    }
    return statement;
  }

  /**
   * One step: the floor moves above the oldest rows while they are past RETENTION_MAX_AGE or
   * the store is over RETENTION_MAX_BYTES, at most EXPIRY_STEP_ROWS; a bucket wholly at or
   * below the floor is dropped; then, with DEDUP_WINDOW, one step of the key sweep. A prefix
   * of the offsets only: the first row to keep ends the step, so the retained events are
   * always the offsets above the floor.
   */
  step(now: Date, storedBytes: number): SqliteExpiryStep {
    const { maxAgeMs, maxBytes, dedupWindowMs } = this.retention;
    const cutoff = maxAgeMs === null ? null : new Date(now.getTime() - maxAgeMs).toISOString();
    const buckets = this.catalogue.all().map(([n, first]) => ({ n, first }));
    const start = this.floorOf.get() ?? { floor: 0, last: 0 };
    let floor = start.floor;
    let expired = 0;
    let bytes = 0;
    let more = false;
    let current: Bucket | undefined;
    let changed = false;
    if (cutoff !== null || maxBytes !== null) {
      let left = storedBytes;
      const perTopic = new Map<string, number>();
      let stop = false;
      for (let i = 0; i < buckets.length && !stop && expired < EXPIRY_STEP_ROWS; i++) {
        const b = buckets[i] as Bucket;
        const next = buckets[i + 1];
        if (next !== undefined && next.first - 1 <= floor) continue;
        // Iterated, not fetched: the usual step finds the first row still young and stops.
        for (const row of this.oldestOf(b.n).iterate(floor, EXPIRY_STEP_ROWS - expired)) {
          const old = cutoff !== null && row.processed_at < cutoff;
          const over = maxBytes !== null && left > maxBytes;
          if (!old && !over) {
            stop = true;
            break;
          }
          expired++;
          bytes += row.bytes;
          left -= row.bytes;
          floor = row.offset;
          perTopic.set(row.topic, (perTopic.get(row.topic) ?? 0) + 1);
        }
      }
      if (expired > 0) {
        this.beforeFloorMoves(floor);
        this.expireCounters.run({ rows: expired, bytes, floor });
        for (const [topic, n] of perTopic) this.expireTopic.run(n, topic);
        changed = true;
      }
      more = expired === EXPIRY_STEP_ROWS;
      // The current bucket, all expired and not empty: a new one takes its place so that it
      // can go too (offsets go on from last_offset).
      const last = buckets.at(-1);
      if (last !== undefined && floor >= start.last && start.last >= last.first) {
        current = { n: last.n + 1, first: start.last + 1 };
        createBucket(this.db, current.n, current.first);
        buckets.push(current);
        changed = true;
      }
      // At most one drop per step: the oldest bucket, once its last offset is at the floor
      // (and an oversized one once what is left of it is no more than a bucket).
      const [oldest, second] = buckets;
      const trimmed =
        oldest !== undefined &&
        second !== undefined &&
        second.first - oldest.first > 2 * this.bucketRows
          ? this.trim(oldest, second, floor)
          : 0;
      if (trimmed > 0) {
        changed = true;
        more = true;
      } else if (oldest !== undefined && second !== undefined && second.first - 1 <= floor) {
        dropBucket(this.db, oldest.n);
        this.oldest.delete(oldest.n);
        this.lowest.delete(oldest.n);
        this.deleteUpTo.delete(oldest.n);
        changed = true;
        const third = buckets[2];
        more ||= third !== undefined && third.first - 1 <= floor;
      }
      if (changed) this.duringExpiry?.();
    }
    let keysForgotten = 0;
    if (dedupWindowMs !== null) {
      const swept = this.sweepKeys(now, dedupWindowMs, floor);
      keysForgotten = swept.forgotten;
      more ||= swept.more;
    }
    return { expired, keysForgotten, more, bytes, ...(current ? { current } : {}) };
  }

  /**
   * Deletes up to EXPIRY_DELETE_ROWS expired rows (at or below `floor`) of the oversized
   * bucket `b` (followed by `next`) while more than a bucket's worth of its rows is left;
   * returns how many it deleted (0: nothing left to trim, the bucket may be dropped).
   */
  private trim(b: Bucket, next: Bucket, floor: number): number {
    const t = bucketTable(b.n);
    let lowest = this.lowest.get(b.n);
    if (lowest === undefined) {
      lowest = this.db.prepare<[], number | null>(`SELECT min("offset") FROM ${t}`).pluck();
      this.lowest.set(b.n, lowest);
    }
    const from = lowest.get() ?? null;
    if (from === null || from > floor || next.first - from <= this.bucketRows) return 0;
    let del = this.deleteUpTo.get(b.n);
    if (del === undefined) {
      del = this.db.prepare<[number]>(`DELETE FROM ${t} WHERE "offset" <= ?`);
      this.deleteUpTo.set(b.n, del);
    }
    const upTo = Math.min(floor, from + EXPIRY_DELETE_ROWS - 1, next.first - 1 - this.bucketRows);
    return del.run(upTo).changes;
  }

  /**
   * DEDUP_WINDOW: walks dedup_keys in key order, KEY_SWEEP_ROWS per step, forgetting keys
   * first seen before the window whose event is gone, that is at or below the floor (a
   * retained event keeps its key). A
   * new sweep starts a quarter window after the last one ended, so a key is forgotten at
   * most ~1.25 windows plus one sweep after it was first seen. The cursor is in memory: a
   * restart begins a new sweep, which only delays forgetting.
   */
  private sweepKeys(
    now: Date,
    windowMs: number,
    floor: number,
  ): { forgotten: number; more: boolean } {
    if (this.sweepAfter === null) {
      if (now.getTime() - this.sweepEndedAt < windowMs / 4) return { forgotten: 0, more: false };
      this.sweepAfter = Buffer.alloc(0);
    }
    const forgetBefore = Math.floor((now.getTime() - windowMs) / 1000);
    const rows = this.keysAfter.all(this.sweepAfter, KEY_SWEEP_ROWS);
    let forgotten = 0;
    for (const row of rows) {
      if (row.first_seen < forgetBefore && row.offset <= floor) {
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
