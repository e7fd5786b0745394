/**
 * The statements of the PostgreSQL store, built once per schema. Each says what it
 * guarantees. A batch is applied by one call of apply_batch (migration 2): one statement and
 * one round trip whatever its size.
 */

export interface Statements {
  readonly applyBatch: string;
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
    // A whole apply, in its own transaction (run it outside BEGIN): see migration 2 for
    // what apply_batch guarantees and answers.
    applyBatch: `SELECT base, outcome FROM ${s}.apply_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,

    // Forgets delivery ids below the queue's floor (ids that can never be delivered again),
    // at most $3 rows per call so one delete never holds many row locks or runs long.
    pruneDeliveries: `
      DELETE FROM ${s}.applied_deliveries
      WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM ${s}.applied_deliveries
        WHERE (ms, seq) < ($1::bigint, $2::bigint)
        LIMIT $3))`,

    // Through the key store (events have no (topic, event_id) index since migration 3): the
    // key's offset is an init plan, so only one partition's primary key is probed; the row
    // must still exist and match (a key outlives its event, and a hash is not the key).
    get: `SELECT ${eventColumns} FROM ${s}.events
      WHERE seq = (SELECT seq FROM ${s}.dedup_keys WHERE key = $3) AND topic = $1 AND event_id = $2`,

    topics: `
      SELECT topic, sum(unique_count)::bigint AS unique_count, sum(duplicates)::bigint AS duplicates,
             sum(stored)::bigint AS stored,
             max(last_offset) AS last_offset,
             to_char(max(last_processed_at) AT TIME ZONE 'UTC',
                     'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS last_processed_at
      FROM ${s}.topic_counters
      GROUP BY topic
      ORDER BY topic`,

    counters: `
      SELECT coalesce(sum(unique_processed), 0)::bigint AS unique_processed,
             coalesce(sum(duplicate_dropped), 0)::bigint AS duplicate_dropped,
             coalesce(sum(stored), 0)::bigint AS stored,
             coalesce(sum(expired), 0)::bigint AS expired,
             coalesce(sum(stored_bytes), 0)::bigint AS stored_bytes
      FROM ${s}.counters`,

    listHead: `SELECT ${eventColumns} FROM ${s}.events`,
  };
}

/** Quotes an identifier (the namespace is validated, but quoting keeps it safe anyway). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
