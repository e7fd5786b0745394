/**
 * The statements of the PostgreSQL store, built once per schema. Each says what it
 * guarantees. A batch is applied by one call of apply_batch_above_floor (migration 5, which
 * calls apply_batch of migration 2): one statement and one round trip whatever its size.
 */
import type { EventsQuery } from '../../domain/schemas.js';

export interface Statements {
  readonly applyBatch: string;
  readonly raiseFloor: string;
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
 * Session settings of the read connections. A page must be an index range read in offset
 * order under the Limit, so its work is bounded by the page size. Left to its estimates,
 * the planner instead walked the primary key filtering by topic (unbounded for a rare
 * topic) or read every row of a topic or source through a bitmap and sorted it
 * (test/cluster/postgres-plans.test.ts showed both). Without sorts and bitmaps, the
 * cheapest plan left is the index whose leading columns are the filter's equalities
 * followed by seq, which migrations 3 and 4 provide for every combination.
 */
export const READ_SESSION_OPTIONS = '-c enable_sort=off -c enable_bitmapscan=off';

/**
 * One /events page bounded in bytes, in one statement and one pass: the innermost query
 * takes the page by an index range (primary key, (topic, seq), (source, seq) or
 * (topic, source, seq)) in page order; the window sums each row's text size in that order;
 * only the prefix that fits in the cap (and always the first row) is sent, so we receive
 * and hold about one page however large the events. `total` is how many rows the
 * unbounded page had, which tells a truncated page from the end of the data.
 */
export function pagedListQuery(
  s: string,
  eventColumns: string,
  query: EventsQuery,
  maxBytes: number,
): { text: string; params: (string | number)[] } {
  const params: (string | number)[] = [];
  const p = (value: string | number): string => {
    params.push(value);
    return `$${params.length}`;
  };
  // The equality filters are written as row comparisons with the offset, between
  // (filters, after) and (filters, before): they mean the same rows, give the index a tight
  // start and end, and, having no constant equality, leave the planner only one way to
  // produce the ORDER BY (filters..., seq) without a sort, which is that index.
  const cols: string[] = [];
  const vals: string[] = [];
  if (query.topic !== undefined) {
    cols.push('topic');
    vals.push(p(query.topic));
  }
  if (query.source !== undefined) {
    cols.push('source');
    vals.push(p(query.source));
  }
  const after = p(query.after);
  const where =
    cols.length === 0
      ? [`seq > ${after}`]
      : [`(${cols.join(', ')}, seq) > (${vals.join(', ')}, ${after})`];
  if (query.before !== undefined) {
    const before = p(query.before);
    where.push(
      cols.length === 0
        ? `seq < ${before}`
        : `(${cols.join(', ')}, seq) < (${vals.join(', ')}, ${before})`,
    );
  } else if (cols.length > 0) {
    where.push(`(${cols.join(', ')}) <= (${vals.join(', ')})`);
  }
  const limit = p(query.limit);
  const cap = p(maxBytes);
  const dir = query.order === 'desc' ? 'DESC' : 'ASC';
  const orderBy = [...cols, 'seq'].map((c) => `${c} ${dir}`).join(', ');
  const text = `
    SELECT ${eventColumns}, total FROM (
      SELECT page.*,
             sum(bytes) OVER w AS upto,
             row_number() OVER w AS n,
             count(*) OVER () AS total
      FROM (
        SELECT seq, topic, event_id, ts, source, payload, processed_at,
               octet_length(payload::text) + octet_length(topic) + octet_length(event_id)
                 + octet_length(source) + 150 AS bytes
        FROM ${s}.events WHERE ${where.join(' AND ')}
        ORDER BY ${orderBy} LIMIT ${limit}
      ) page
      WINDOW w AS (ORDER BY ${orderBy} ROWS UNBOUNDED PRECEDING)
    ) sized
    WHERE n = 1 OR upto <= ${cap}
    ORDER BY ${orderBy}`;
  return { text, params };
}

const PROCESSED_AT_ISO = `to_char(processed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

export function statements(s: string): Statements {
  const eventColumns = `seq, topic, event_id, ts, source, payload::text AS payload,
    ${PROCESSED_AT_ISO} AS processed_at`;
  return {
    // A whole apply, in its own transaction (run it outside BEGIN): see migration 2 for
    // what apply_batch guarantees and answers, migration 5 for the delivery floor check.
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

    // Through the key store (events have no (topic, event_id) index since migration 3): the
    // key's offset is an init plan, so only one partition's primary key is probed; the row
    // must still exist and match (a key outlives its event, and a hash is not the key).
    get: `SELECT ${eventColumns} FROM ${s}.events
      WHERE seq = (SELECT seq FROM ${s}.dedup_keys WHERE key = $3) AND topic = $1 AND event_id = $2`,

    // One page of topics by name, after $1 (exclusive), at most $2: a range of the primary
    // key (topic, shard), grouped as it is read.
    topics: `
      SELECT topic, sum(unique_count)::bigint AS unique_count, sum(duplicates)::bigint AS duplicates,
             sum(stored)::bigint AS stored,
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
