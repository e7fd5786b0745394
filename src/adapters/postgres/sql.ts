/**
 * The statements of the PostgreSQL store, built once per schema. Each says what it
 * guarantees. A batch is applied by one call of apply_batch_above_floor (migration 3, which
 * calls apply_batch of migration 2): one statement and one round trip whatever its size.
 */

export interface Statements {
  readonly applyBatch: string;
  readonly raiseFloor: string;
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
    // what apply_batch guarantees and answers, migration 3 for the delivery floor check.
    applyBatch: `SELECT base, outcome FROM ${s}.apply_batch_above_floor($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,

    // Raises the pruned floor (never lowers it), in its own transaction; returns the floor
    // in force. Every apply that starts after it commits answers 'redelivered' below it.
    raiseFloor: `SELECT ms::text, seq::text FROM ${s}.raise_delivery_floor($1, $2, $3, $4)`,

    // Forgets delivery ids below the store's floor (raiseFloor committed first, so no apply
    // needs them any more), at most $3 rows per call so one delete never holds many row
    // locks or runs long.
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
