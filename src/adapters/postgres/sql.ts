/**
 * The hot statements of the PostgreSQL store, built once per schema. Each says what it
 * guarantees. Batches travel as arrays and are expanded with unnest, so a batch of any size
 * is one statement and one round trip.
 */

export interface Statements {
  readonly recordDeliveries: string;
  readonly offsetLock: string;
  readonly insertEvents: string;
  readonly existingOffsets: string;
  readonly bumpCounters: string;
  readonly pruneDeliveries: string;
  readonly get: string;
  readonly topics: string;
  readonly counters: string;
  /** SELECT list and FROM of `list`; the WHERE/ORDER/LIMIT are added per query. */
  readonly listHead: string;
}

const PROCESSED_AT_ISO = `to_char(processed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

export function statements(s: string): Statements {
  const eventColumns = `seq, topic, event_id, ts, source, payload::text AS payload,
    ${PROCESSED_AT_ISO} AS processed_at`;
  return {
    // One row per delivery id. Returns only the ids this transaction recorded, i.e. the
    // deliveries never applied before; a concurrent transaction recording the same id makes
    // this one wait for its outcome, so a delivery is applied by exactly one transaction.
    // Callers pass the ids sorted, so two overlapping batches lock rows in the same order.
    recordDeliveries: `
      INSERT INTO ${s}.applied_deliveries (ms, seq)
      SELECT * FROM unnest($1::bigint[], $2::bigint[])
      ON CONFLICT (ms, seq) DO NOTHING
      RETURNING ms, seq`,

    // Serialises offset assignment and commit across every instance of the namespace: held
    // from before nextval() until COMMIT/ROLLBACK, so a transaction with larger offsets can
    // only commit after every transaction with smaller ones has become visible.
    offsetLock: `SELECT pg_advisory_xact_lock($1, $2)`,

    // One row per (topic, event_id): the first copy wins, later and concurrent copies are
    // skipped. Offsets are drawn in input order (the subquery keeps the batch order, so the
    // events of one request keep their order). Returns only the rows inserted now.
    insertEvents: `
      INSERT INTO ${s}.events (seq, topic, event_id, ts, source, payload, processed_at)
      SELECT nextval('${s}.event_offsets'), b.topic, b.event_id, b.ts, b.source, b.payload::json, $6
      FROM (
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
          WITH ORDINALITY AS u(topic, event_id, ts, source, payload, ord)
        ORDER BY ord
      ) b
      ON CONFLICT (topic, event_id) DO NOTHING
      RETURNING seq, topic, event_id`,

    // The offsets of keys stored by earlier transactions (for 'duplicate' answers).
    existingOffsets: `
      SELECT e.seq, e.topic, e.event_id
      FROM ${s}.events e
      JOIN unnest($1::text[], $2::text[]) AS k(topic, event_id)
        ON e.topic = k.topic AND e.event_id = k.event_id`,

    // Adds this batch to the shard's totals and to the shard's per-topic rows, in the same
    // transaction as the rows counted. A shard row is written by one instance only, so no
    // instance ever waits on another's counter row; readers sum the shards.
    bumpCounters: `
      WITH total AS (
        INSERT INTO ${s}.counters AS c (shard, unique_processed, duplicate_dropped)
        VALUES ($1, $2, $3)
        ON CONFLICT (shard) DO UPDATE SET
          unique_processed = c.unique_processed + excluded.unique_processed,
          duplicate_dropped = c.duplicate_dropped + excluded.duplicate_dropped
      )
      INSERT INTO ${s}.topic_counters AS t
        (topic, shard, unique_count, duplicates, last_offset, last_processed_at)
      SELECT u.topic, $1, u.uniq, u.dups, u.last_offset,
             CASE WHEN u.uniq > 0 THEN $8::timestamptz END
      FROM unnest($4::text[], $5::bigint[], $6::bigint[], $7::bigint[])
        AS u(topic, uniq, dups, last_offset)
      ON CONFLICT (topic, shard) DO UPDATE SET
        unique_count = t.unique_count + excluded.unique_count,
        duplicates = t.duplicates + excluded.duplicates,
        last_offset = GREATEST(t.last_offset, excluded.last_offset),
        last_processed_at = GREATEST(t.last_processed_at, excluded.last_processed_at)`,

    // Forgets delivery ids below the queue's floor (ids that can never be delivered again),
    // at most $3 rows per call so one delete never holds many row locks or runs long.
    pruneDeliveries: `
      DELETE FROM ${s}.applied_deliveries
      WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM ${s}.applied_deliveries
        WHERE (ms, seq) < ($1::bigint, $2::bigint)
        LIMIT $3))`,

    get: `SELECT ${eventColumns} FROM ${s}.events WHERE topic = $1 AND event_id = $2`,

    topics: `
      SELECT topic, sum(unique_count)::bigint AS unique_count, sum(duplicates)::bigint AS duplicates,
             max(last_offset) AS last_offset,
             to_char(max(last_processed_at) AT TIME ZONE 'UTC',
                     'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS last_processed_at
      FROM ${s}.topic_counters
      GROUP BY topic
      ORDER BY topic`,

    counters: `
      SELECT coalesce(sum(unique_processed), 0)::bigint AS unique_processed,
             coalesce(sum(duplicate_dropped), 0)::bigint AS duplicate_dropped
      FROM ${s}.counters`,

    listHead: `SELECT ${eventColumns} FROM ${s}.events`,
  };
}

/** Quotes an identifier (the namespace is validated, but quoting keeps it safe anyway). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
