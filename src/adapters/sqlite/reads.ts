/**
 * The read statements of the SQLite store, over any connection to the database: the
 * writer's own (SqliteStore) or a read-only one on a reader thread (reader-thread.ts), which
 * WAL lets run beside the writer's transactions.
 *
 * Guarantees:
 * - `page` steps through the rows with `iterate()` and stops at the byte cap, so a request
 *   never materialises more than about one page of events, however large `limit` is.
 * - every filter combination is an index range scan bounded by the page: by offset (primary
 *   key), (topic, offset), (source, offset), or (topic, source, offset) (migration 2);
 *   test/http/bounded-reads.test.ts checks the plans with EXPLAIN QUERY PLAN.
 * - topics are paged by name (primary key of `topics`).
 */
import type { Database as DB, Statement } from 'better-sqlite3';
import { dedupKeyHash } from '../../domain/dedup-key.js';
import type { StoredEvent } from '../../domain/event.js';
import { encodePage, type EncodedPage, type PageFormat } from '../../domain/page.js';
import type { EventsQuery } from '../../domain/schemas.js';
import type { TopicsPage, TopicSummary } from '../../ports/store.js';

export const EVENT_COLUMNS = `"offset", topic, event_id, timestamp, source, payload, processed_at`;

/** SQL of one /events query and its parameters (exported for the query-plan test). */
export function listSql(query: EventsQuery): { sql: string; params: unknown[] } {
  const where = ['"offset" > ?'];
  const params: unknown[] = [query.after];
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
      ? 'events INDEXED BY events_by_topic_source'
      : 'events';
  return {
    sql: `SELECT ${EVENT_COLUMNS} FROM ${from} WHERE ${where.join(' AND ')} ORDER BY "offset" ${order} LIMIT ?`,
    params,
  };
}

export class SqliteReads {
  private readonly statements = new Map<string, Statement<unknown[], StoredEvent>>();
  private readonly getOne: Statement<[Buffer, string, string], StoredEvent>;
  private readonly topicsAfter: Statement<[string, number], TopicSummary>;
  private readonly topicsFirst: Statement<[number], TopicSummary>;
  private readonly countTopics: Statement<[], number>;

  constructor(private readonly db: DB) {
    // Through the key store (the events table has no (topic, event_id) index); the row must
    // still exist and match, since a key outlives its event and a hash is not the key.
    this.getOne = db.prepare(
      `SELECT e."offset", e.topic, e.event_id, e.timestamp, e.source, e.payload, e.processed_at
       FROM dedup_keys k JOIN events e ON e."offset" = k."offset"
       WHERE k.key = ? AND e.topic = ? AND e.event_id = ?`,
    );
    const topicColumns = `topic, unique_count AS "unique", duplicates, stored, last_offset, last_processed_at`;
    this.topicsAfter = db.prepare(
      `SELECT ${topicColumns} FROM topics WHERE topic > ? ORDER BY topic LIMIT ?`,
    );
    this.topicsFirst = db.prepare(`SELECT ${topicColumns} FROM topics ORDER BY topic LIMIT ?`);
    this.countTopics = db.prepare<[], number>('SELECT count(*) FROM topics').pluck();
  }

  private statement(sql: string): Statement<unknown[], StoredEvent> {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare<unknown[], StoredEvent>(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  page(query: EventsQuery, maxBytes: number, format: PageFormat): EncodedPage {
    const { sql, params } = listSql(query);
    return encodePage(this.statement(sql).iterate(...params), {
      limit: query.limit,
      maxBytes,
      format,
    });
  }

  /** Rows of one query, stopping once their text passes `maxBytes` (at least one row). */
  list(query: EventsQuery, maxBytes: number): StoredEvent[] {
    const { sql, params } = listSql(query);
    const rows: StoredEvent[] = [];
    let chars = 0;
    for (const row of this.statement(sql).iterate(...params)) {
      chars += row.payload.length + row.topic.length + row.event_id.length + row.source.length;
      if (rows.length > 0 && chars > maxBytes) break;
      rows.push(row);
    }
    return rows;
  }

  get(topic: string, eventId: string): StoredEvent | null {
    return this.getOne.get(dedupKeyHash(topic, eventId), topic, eventId) ?? null;
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
