/**
 * Retention on PostgreSQL: whole partitions of `events` are dropped (migration 3), never
 * rows deleted, so expiry leaves no dead tuples and gives the space back at once.
 *
 * One step (`expire`):
 *   1. ahead (on the store's own timer, see PgExpirer.createAhead): when the newest partition
 *      is half full, create the next one under the offset lock, as apply_batch would, with a
 *      short lock_timeout. Creating a partition takes an ACCESS EXCLUSIVE lock on `events`
 *      (measured: pg_locks), so doing it here, off the apply path, keeps applies from waiting
 *      behind readers for it; apply_batch creates one itself only if this fell behind;
 *   2. seal: the oldest partition can go only once no offset inside it can still be drawn
 *      or be in flight. Taking the offset lock (a one-statement transaction) waits for every
 *      apply that drew offsets to commit; if the sequence is then past the partition's end,
 *      the partition never changes again;
 *   3. measure it once (rows, bytes, per-topic rows, newest processed_at), cached by name;
 *   4. drop it if it is due (all of it past RETENTION_MAX_AGE, or the store over
 *      RETENTION_MAX_BYTES), in ONE transaction with the registry row and the counter moves
 *      (stored -> expired, stored_bytes, topics' stored) on this instance's shard: a crash at
 *      any point leaves the whole drop or none of it. lock_timeout bounds how long the drop
 *      may wait behind a reader (it retries next step), so applies never queue behind it;
 *   5. DEDUP_WINDOW: one step of a key-order sweep of dedup_keys (as in SQLite).
 * Several instances may run it at once: an expiry advisory lock (try) lets one drop at a
 * time, and the registry delete tells it whether the partition was still there.
 *
 * Granularity: a partition spans partition_span offsets (100,000 by default), so events
 * outlive their bound by up to one partition's worth (README "Retention").
 */
import type { Pool, PoolClient } from 'pg';
import type { RetentionPolicy } from '../../domain/retention.js';
import type { ExpiryStep } from '../../ports/store.js';

export interface PgExpiryOptions {
  readonly pool: Pool;
  /** Quoted schema identifier. */
  readonly schema: string;
  readonly offsetLock: readonly [number, number];
  readonly expiryLock: readonly [number, number];
  readonly shard: number;
  readonly retention: RetentionPolicy;
  /** Tests only: called inside the drop transaction after the DROP, before COMMIT. */
  readonly duringExpiry?: (() => void) | undefined;
}

interface PartitionStats {
  readonly rows: number;
  readonly bytes: number;
  /** ms since epoch of the newest processed_at; null when empty. */
  readonly newest: number | null;
  readonly topics: readonly { topic: string; rows: number }[];
}

const KEY_SWEEP_ROWS = 5_000;

export interface PgExpirer {
  /** One expiry step (the header's steps 2 to 5). */
  expire(now: Date): Promise<ExpiryStep>;
  /**
   * Step 1 on its own: creates the next partition once the newest is half full. The store
   * runs it on a timer whatever the retention settings, since applies need partitions too.
   */
  createAhead(): Promise<void>;
}

export function pgExpirer(o: PgExpiryOptions): PgExpirer {
  const s = o.schema;
  const measured = new Map<string, PartitionStats>();
  let sweepAfter: Buffer | null = Buffer.alloc(0);
  let sweepEndedAt = 0;

  async function createAhead(): Promise<void> {
    const r = await o.pool.query<{ hi: string; span: string; last: string }>(
      `SELECT (SELECT max(hi) FROM ${s}.event_partitions) AS hi,
              (SELECT span FROM ${s}.partition_span WHERE id = 1) AS span,
              (SELECT last_value FROM ${s}.event_offsets) AS last`,
    );
    const row = r.rows[0];
    if (row === undefined || row.hi === null) return;
    const hi = Number(row.hi);
    const span = Number(row.span);
    if (Number(row.last) < hi - span / 2) return;
    await inTransaction(async (c) => {
      await c.query(`SET LOCAL lock_timeout = '100ms'`);
      await c.query('SELECT pg_advisory_xact_lock($1, $2)', [...o.offsetLock]);
      const again = await c.query<{ hi: string }>(
        `SELECT max(hi) AS hi FROM ${s}.event_partitions`,
      );
      if (Number(again.rows[0]?.hi) !== hi) return; // an apply created it meanwhile
      await c.query(
        `CREATE TABLE ${s}."events_${hi}" PARTITION OF ${s}.events FOR VALUES FROM (${hi}) TO (${hi + span})`,
      );
      await c.query(`INSERT INTO ${s}.event_partitions VALUES ($1, $2, $3)`, [
        hi,
        hi + span,
        `events_${hi}`,
      ]);
    });
  }

  async function inTransaction(body: (c: PoolClient) => Promise<void>): Promise<void> {
    const c = await o.pool.connect();
    try {
      await c.query('BEGIN');
      await body(c);
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  async function measure(name: string): Promise<PartitionStats> {
    const known = measured.get(name);
    if (known !== undefined) return known;
    const r = await o.pool.query<{ topic: string; rows: string; bytes: string; newest: Date }>(
      `SELECT topic, count(*) AS rows,
              sum(octet_length(topic) + octet_length(event_id) + octet_length(ts)
                  + octet_length(source) + octet_length(payload::text)) AS bytes,
              max(processed_at) AS newest
       FROM ${s}."${name}" GROUP BY topic`,
    );
    let rows = 0;
    let bytes = 0;
    let newest: number | null = null;
    for (const t of r.rows) {
      rows += Number(t.rows);
      bytes += Number(t.bytes);
      newest = Math.max(newest ?? 0, t.newest.getTime());
    }
    const stats = {
      rows,
      bytes,
      newest,
      topics: r.rows.map((t) => ({ topic: t.topic, rows: Number(t.rows) })),
    };
    measured.set(name, stats);
    return stats;
  }

  /** Drops the oldest partition when it is sealed and due; returns the rows it held, or null. */
  async function dropOldest(now: Date): Promise<number | null> {
    const { maxAgeMs, maxBytes } = o.retention;
    const oldest = await o.pool.query<{ lo: string; hi: string; name: string }>(
      `SELECT lo, hi, name FROM ${s}.event_partitions ORDER BY lo LIMIT 1`,
    );
    const p = oldest.rows[0];
    if (p === undefined) return null;
    // Waits for every apply holding drawn offsets to commit (see the header, step 2).
    const seq = await o.pool.query<{ last: string; called: boolean }>(
      `SELECT last_value AS last, is_called AS called
       FROM ${s}.event_offsets, pg_advisory_xact_lock($1, $2)`,
      [...o.offsetLock],
    );
    const last = seq.rows[0]?.called === true ? Number(seq.rows[0].last) : 0;
    if (last < Number(p.hi) - 1) return null;
    const stats = await measure(p.name);
    let due = stats.newest === null; // an empty sealed partition just goes
    if (maxAgeMs !== null && stats.newest !== null && stats.newest < now.getTime() - maxAgeMs) {
      due = true;
    }
    if (!due && maxBytes !== null) {
      const total = await o.pool.query<{ bytes: string }>(
        `SELECT coalesce(sum(stored_bytes), 0) AS bytes FROM ${s}.counters`,
      );
      due = Number(total.rows[0]?.bytes ?? 0) > maxBytes;
    }
    if (!due) return null;
    let dropped = false;
    await inTransaction(async (c) => {
      await c.query(`SET LOCAL lock_timeout = '100ms'`);
      const mine = await c.query<{ ok: boolean }>(
        'SELECT pg_try_advisory_xact_lock($1, $2) AS ok',
        [...o.expiryLock],
      );
      if (mine.rows[0]?.ok !== true) return;
      const gone = await c.query(`DELETE FROM ${s}.event_partitions WHERE lo = $1`, [p.lo]);
      if (gone.rowCount !== 1) return; // another instance dropped it
      await c.query(`DROP TABLE ${s}."${p.name}"`);
      o.duringExpiry?.();
      await c.query(
        `INSERT INTO ${s}.counters AS c (shard, stored, expired, stored_bytes) VALUES ($1, $2, $3, $4)
         ON CONFLICT (shard) DO UPDATE SET stored = c.stored + excluded.stored,
           expired = c.expired + excluded.expired, stored_bytes = c.stored_bytes + excluded.stored_bytes`,
        [o.shard, -stats.rows, stats.rows, -stats.bytes],
      );
      if (stats.topics.length > 0) {
        await c.query(
          `INSERT INTO ${s}.topic_counters AS tc (topic, shard, stored)
           SELECT t.topic, $1, -t.n FROM unnest($2::text[], $3::bigint[]) AS t(topic, n)
           ON CONFLICT (topic, shard) DO UPDATE SET stored = tc.stored + excluded.stored`,
          [o.shard, stats.topics.map((t) => t.topic), stats.topics.map((t) => t.rows)],
        );
      }
      dropped = true;
    });
    measured.delete(p.name);
    return dropped ? stats.rows : null;
  }

  /** As in SQLite (store.ts sweepKeys): forget keys past the window whose event is gone. */
  async function sweepKeys(
    now: Date,
    windowMs: number,
  ): Promise<{ forgotten: number; more: boolean }> {
    if (sweepAfter === null) {
      if (now.getTime() - sweepEndedAt < windowMs / 4) return { forgotten: 0, more: false };
      sweepAfter = Buffer.alloc(0);
    }
    const r = await o.pool.query<{ last: Buffer | null; seen: string; forgotten: string }>(
      `WITH batch AS (
         SELECT key, seq, first_seen FROM ${s}.dedup_keys WHERE key > $1 ORDER BY key LIMIT $2
       ), gone AS (
         DELETE FROM ${s}.dedup_keys d USING batch b
         WHERE d.key = b.key AND b.first_seen < $3
           AND NOT EXISTS (SELECT 1 FROM ${s}.events e WHERE e.seq = b.seq)
         RETURNING 1
       )
       SELECT (SELECT key FROM batch ORDER BY key DESC LIMIT 1) AS last,
              (SELECT count(*) FROM batch) AS seen,
              (SELECT count(*) FROM gone) AS forgotten`,
      [sweepAfter, KEY_SWEEP_ROWS, new Date(now.getTime() - windowMs)],
    );
    const row = r.rows[0];
    const forgotten = Number(row?.forgotten ?? 0);
    if (row === undefined || row.last === null || Number(row.seen) < KEY_SWEEP_ROWS) {
      sweepAfter = null;
      sweepEndedAt = now.getTime();
      return { forgotten, more: false };
    }
    sweepAfter = row.last;
    return { forgotten, more: true };
  }

  const expire = async (now: Date): Promise<ExpiryStep> => {
    let expired = 0;
    let more = false;
    if (o.retention.maxAgeMs !== null || o.retention.maxBytes !== null) {
      const rows = await dropOldest(now);
      if (rows !== null) {
        expired = rows;
        more = true; // the next partition may be due too
      }
    }
    let keysForgotten = 0;
    if (o.retention.dedupWindowMs !== null) {
      const swept = await sweepKeys(now, o.retention.dedupWindowMs);
      keysForgotten = swept.forgotten;
      more ||= swept.more;
    }
    return { expired, keysForgotten, more };
  };
  return { expire, createAhead };
}
