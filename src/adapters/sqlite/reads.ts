/**
 * The read statements of the SQLite store, over any connection to the database: the
 * writer's own (SqliteStore) or a read-only one on a reader thread (reader-thread.ts), which
 * WAL lets run beside the writer's transactions.
 *
 * Guarantees:
 * - each read is one read transaction: the bucket catalogue, the retention floor and the
 *   rows come from one snapshot, so a bucket created or dropped by the writer meanwhile is
 *   seen together with the floor that goes with it (buckets.ts), and no offset at or below
 *   the floor is ever returned.
 * - `page` steps through the rows with `iterate()`, bucket after bucket in offset order, and
 *   stops at the byte cap or the limit, so a request never materialises more than about one
 *   page of events, however large `limit` is, and never queries a bucket it does not reach.
 * - in each bucket every filter combination is an index range scan bounded by the page: by
 *   offset (primary key), (topic, offset), (source, offset), or (topic, source, offset);
 *   test/store/sqlite-plans.test.ts checks the plans with EXPLAIN QUERY PLAN.
 * - topics are paged by name (primary key of `topics`).
 */
import type { Database as DB, Statement } from 'better-sqlite3';
import { dedupKeyHash } from '../../domain/dedup-key.js';
import type { StoredEvent } from '../../domain/event.js';
import { encodePage, type EncodedPage, type PageFormat } from '../../domain/page.js';
import type { EventsQuery } from '../../domain/schemas.js';
import type { TopicsPage, TopicSummary } from '../../ports/store.js';
import { bucketOf, bucketsBetween, bucketTable, type Bucket } from './buckets.js';
import { rowChecksum, rowDamage } from './damage.js';

export const EVENT_COLUMNS = `"offset", topic, event_id, timestamp, source, payload, processed_at`;

/** What a read selects of a row: the event's columns, then its checksum (damage.ts). */
const ROW_COLUMNS = `${EVENT_COLUMNS}, crc`;
type EventRow = [number, string, string, string, string, string, string, number | null];

/** Rows per read transaction of the check after start (`checkRows`). */
const CHECK_ROWS = 10_000;

/** The event of `row`, once its checksum holds (null: a row stored before checksums). */
function checked(row: EventRow, table: string): StoredEvent {
  const [offset, topic, event_id, timestamp, source, payload, processed_at, crc] = row;
  const event = { offset, topic, event_id, timestamp, source, payload, processed_at };
  if (crc !== null && crc !== rowChecksum(offset, event, processed_at)) {
    throw rowDamage(table, offset);
  }
  return event;
}

/**
 * SQL of one /events query over one bucket's table and its parameters (exported for the
 * query-plan test). The lower offset bound is `after`, or the retention floor when higher.
 */
export function listSql(
  query: EventsQuery,
  table = 'events',
  floor = 0,
): { sql: string; params: unknown[] } {
  const where = ['"offset" > ?'];
  const params: unknown[] = [Math.max(query.after, floor)];
  if (query.before !== undefined) {
    where.push('"offset" < ?');
    params.push(query.before);
  }
  if (query.topic !== undefined) {
    where.push('topic = ?');
    params.push(query.topic);
  }
  if (query.source !== undefined) {
    where.push('source = ?');
    params.push(query.source);
  }
  const order = query.order === 'desc' ? 'DESC' : 'ASC';
  params.push(query.limit);
  // Without statistics the planner weighs (source, offset) with two offset bounds above
  // (topic, source, offset) and would filter every row of the source: name the index.
  const from =
    query.topic !== undefined && query.source !== undefined
      ? `${table} INDEXED BY ${table}_by_topic_source`
      : table;
  return {
    sql: `SELECT ${ROW_COLUMNS} FROM ${from} WHERE ${where.join(' AND ')} ORDER BY "offset" ${order} LIMIT ?`,
    params,
  };
}

export class SqliteReads {
  /** Per bucket: its statements by SQL. Buckets below the oldest live one are forgotten. */
  private readonly statements = new Map<number, Map<string, Statement<unknown[], EventRow>>>();
  private readonly catalogue: Statement<[], [number, number]>;
  private readonly floorOf: Statement<[], number>;
  private readonly keyOffset: Statement<[Buffer], number>;
  private readonly topicsAfter: Statement<[string, number], TopicSummary>;
  private readonly topicsFirst: Statement<[number], TopicSummary>;
  private readonly countTopics: Statement<[], number>;
  /** Runs `body` in one read transaction (a savepoint inside the writer's own). */
  private readonly snapshot: <T>(body: () => T) => T;

  constructor(private readonly db: DB) {
    this.catalogue = db
      .prepare<[], [number, number]>('SELECT n, first_offset FROM buckets ORDER BY n')
      .raw();
    this.floorOf = db.prepare<[], number>('SELECT floor_offset FROM counters WHERE id = 1').pluck();
    // The events tables have no (topic, event_id) index: /events/:topic/:event_id goes
    // through the key store, then the bucket holding the key's offset.
    this.keyOffset = db
      .prepare<[Buffer], number>('SELECT "offset" FROM dedup_keys WHERE key = ?')
      .pluck();
    const topicColumns = `topic, unique_count AS "unique", duplicates, stored, last_offset, last_processed_at`;
    this.topicsAfter = db.prepare(
      `SELECT ${topicColumns} FROM topics WHERE topic > ? ORDER BY topic LIMIT ?`,
    );
    this.topicsFirst = db.prepare(`SELECT ${topicColumns} FROM topics ORDER BY topic LIMIT ?`);
    this.countTopics = db.prepare<[], number>('SELECT count(*) FROM topics').pluck();
    const tx = db.transaction((body: () => unknown) => body());
    this.snapshot = <T>(body: () => T): T => tx(body) as T;
  }

  /** A raw statement (rows as arrays: `checked` makes the events). */
  private statement(n: number, sql: string): Statement<unknown[], EventRow> {
    let byBucket = this.statements.get(n);
    if (byBucket === undefined) {
      byBucket = new Map();
      this.statements.set(n, byBucket);
    }
    let statement = byBucket.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare<unknown[], EventRow>(sql).raw();
      byBucket.set(sql, statement);
    }
    return statement;
  }

  /** The live buckets and the floor, in the caller's read transaction. */
  private live(): { buckets: Bucket[]; floor: number } {
    const buckets = this.catalogue.all().map(([n, first]) => ({ n, first }));
    const oldest = buckets[0]?.n ?? Number.POSITIVE_INFINITY;
    for (const n of this.statements.keys()) if (n < oldest) this.statements.delete(n);
    return { buckets, floor: this.floorOf.get() ?? 0 };
  }

  /** The rows of one query, bucket after bucket; call inside `snapshot`. */
  private *rows(query: EventsQuery): Generator<StoredEvent, void, undefined> {
    const { buckets, floor } = this.live();
    const lo = Math.max(query.after, floor);
    const hi = query.before ?? Number.POSITIVE_INFINITY;
    const reach = bucketsBetween(buckets, lo, hi);
    if (query.order === 'desc') reach.reverse();
    for (const b of reach) {
      const table = bucketTable(b.n);
      const { sql, params } = listSql(query, table, floor);
      for (const row of this.statement(b.n, sql).iterate(...params)) yield checked(row, table);
    }
  }

  page(query: EventsQuery, maxBytes: number, format: PageFormat): EncodedPage {
    return this.snapshot(() =>
      encodePage(this.rows(query), { limit: query.limit, maxBytes, format }),
    );
  }

  /** Rows of one query, stopping once their text passes `maxBytes` (at least one row). */
  list(query: EventsQuery, maxBytes: number): StoredEvent[] {
    return this.snapshot(() => {
      const rows: StoredEvent[] = [];
      let chars = 0;
      for (const row of this.rows(query)) {
        if (rows.length >= query.limit) break;
        chars += row.payload.length + row.topic.length + row.event_id.length + row.source.length;
        if (rows.length > 0 && chars > maxBytes) break;
        rows.push(row);
      }
      return rows;
    });
  }

  /**
   * The event stored under (topic, event_id). `held`: the offset the writer holds its key
   * under in memory (SqliteStore.heldOffset: the newest events' keys, recent-keys.ts), or
   * null when it holds none, and then the key is in dedup_keys or nowhere. Asked of the writer
   * before this read's snapshot begins, so a key flushed in between is in dedup_keys by then.
   * One key lookup and one row read either way; the reads used to look for a held key by
   * scanning the topic's newest rows, up to RECENT_KEYS_MAX of them (8.6 ms for an unknown id
   * in a topic of 45,000 held events, BENCHMARKS "GET by id").
   */
  get(topic: string, eventId: string, held: number | null): StoredEvent | null {
    return this.snapshot(() => {
      const offset = held ?? this.keyOffset.get(dedupKeyHash(topic, eventId));
      if (offset === undefined) return null;
      const { buckets, floor } = this.live();
      const bucket = offset > floor ? bucketOf(buckets, offset) : undefined;
      if (bucket === undefined) return null;
      // The row must still match: a hash is not the key.
      const table = bucketTable(bucket.n);
      const raw = this.statement(
        bucket.n,
        `SELECT ${ROW_COLUMNS} FROM ${table} WHERE "offset" = ?`,
      ).get(offset);
      const row = raw === undefined ? undefined : checked(raw, table);
      return row !== undefined && row.topic === topic && row.event_id === eventId ? row : null;
    });
  }

  /**
   * Checks the checksum of every retained event row, CHECK_ROWS at a time, each step in its
   * own read transaction (one long one would hold WAL checkpoints back for its whole
   * length); the caller runs the steps and may stop between them. Throws rowDamage, or
   * SQLite's error for a page that does not parse.
   */
  *checkRows(): Generator<void, void, undefined> {
    let after = 0;
    for (;;) {
      const last = this.snapshot(() => {
        let seen: number | null = null;
        let n = 0;
        for (const row of this.rows({ after, limit: CHECK_ROWS, order: 'asc' })) {
          seen = row.offset;
          if (++n >= CHECK_ROWS) break;
        }
        return seen;
      });
      if (last === null) return;
      after = last;
      yield;
    }
  }

  topicCount(): number {
    return this.countTopics.get() ?? 0;
  }

  topics(page: TopicsPage): TopicSummary[] {
    return page.after === undefined
      ? this.topicsFirst.all(page.limit)
      : this.topicsAfter.all(page.after, page.limit);
  }
}
