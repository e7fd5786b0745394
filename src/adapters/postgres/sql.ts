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
  /** How many topics have a summary. */
  readonly topicCount: string;
  /** Columns of an event row, for queries built per filter (pagedList). */
  readonly eventColumns: string;
}

/**
 * One /events page bounded in bytes, in one statement: the innermost query takes the page
 * by index range (offsets and sizes only are used from it); the window sums each row's
 * text size in page order; only the prefix that fits in $cap (and always the first row)
 * is joined back for its columns, so the server sends and we hold about one page however
 * large the events. `total` is how many rows the unbounded page had (truncation).
 * octet_length of the payload text is computed server-side and not sent.
 */
export function pagedList(
  s: string,
  eventColumns: string,
  where: string,
  order: 'ASC' | 'DESC',
  limitParam: string,
  capParam: string,
): string {
  return `
    SELECT ${eventColumns}, total FROM (
      SELECT e.*, sized.total
      FROM (
        SELECT seq,
               sum(bytes) OVER (ORDER BY seq ${order} ROWS UNBOUNDED PRECEDING) AS upto,
               row_number() OVER (ORDER BY seq ${order}) AS n,
               count(*) OVER () AS total
        FROM (
          SELECT seq, octet_length(payload::text) + octet_length(topic)
                      + octet_length(event_id) + octet_length(source) + 150 AS bytes
          FROM ${s}.events WHERE ${where} ORDER BY seq ${order} LIMIT ${limitParam}
        ) page
      ) sized
      JOIN ${s}.events e ON e.seq = sized.seq
      WHERE sized.n = 1 OR sized.upto <= ${capParam}
    ) fits
    ORDER BY seq ${order}`;
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

    get: `SELECT ${eventColumns} FROM ${s}.events WHERE topic = $1 AND event_id = $2`,

    // One page of topics by name, after $1 (exclusive), at most $2: a range of the primary
    // key (topic, shard), grouped as it is read.
    topics: `
      SELECT topic, sum(unique_count)::bigint AS unique_count, sum(duplicates)::bigint AS duplicates,
             max(last_offset) AS last_offset,
             to_char(max(last_processed_at) AT TIME ZONE 'UTC',
                     'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS last_processed_at
      FROM ${s}.topic_counters
      WHERE topic > $1
      GROUP BY topic
      ORDER BY topic
      LIMIT $2`,

    topicCount: `SELECT count(DISTINCT topic)::bigint AS n FROM ${s}.topic_counters`,

    eventColumns,

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
