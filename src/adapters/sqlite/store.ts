/**
 * Embedded store: SQLite (better-sqlite3) in WAL mode, one connection, one writer.
 *
 * - `apply` is one IMMEDIATE transaction per batch: skip deliveries already applied, insert
 *   each event with ON CONFLICT DO NOTHING, record the applied sequence ranges, update the
 *   counters and per-topic summaries. Offsets are rowids assigned by the single writer, so
 *   offset order is commit order and readers paging with `after` never skip.
 * - The database is opened with locking_mode=EXCLUSIVE: a second process on the same
 *   DATA_DIR fails at start instead of corrupting the queue log.
 * - synchronous=NORMAL: a commit survives a process crash (SIGKILL); on power loss the last
 *   commits may roll back, which is harmless because the queue log still holds their
 *   events until `checkpoint()` (a durable WAL checkpoint) runs before log segments go.
 * - Counters are mirrored in memory after each commit so /stats never touches the disk.
 */
import Database, { type Database as DB, type Statement } from 'better-sqlite3';
import type { StoredEvent } from '../../domain/event.js';
import type { EventsQuery } from '../../domain/schemas.js';
import type { Delivery } from '../../ports/queue.js';
import type {
  AppliedItem,
  ApplyResult,
  Store,
  StoreCounters,
  TopicSummary,
} from '../../ports/store.js';
import { SQLITE_MIGRATIONS } from './migrations.js';
import { RangeSet, toRuns, type Range } from './ranges.js';

export interface SqliteStoreOptions {
  /** Path of the database file, or ':memory:'. */
  readonly file: string;
}

interface EventRow {
  offset: number;
  topic: string;
  event_id: string;
  timestamp: string;
  source: string;
  payload: string;
  processed_at: string;
}

interface TopicDelta {
  unique: number;
  duplicates: number;
  lastOffset: number | null;
}

const EVENT_COLUMNS = `"offset", topic, event_id, timestamp, source, payload, processed_at`;

/**
 * Every statement this store prepares stays referenced until the database closes: none is
 * ever left to the garbage collector. On Node 24, better-sqlite3 12's statements (a raw
 * node::ObjectWrap) remove an environment cleanup hook in their destructor, and a GC that
 * finalises one outside a JavaScript context aborts the process ("Assertion failed: (env)
 * != nullptr" in RemoveEnvironmentCleanupHook): the client end-to-end test lost its server
 * that way in 5 of 8 runs on Node 24, 0 of 8 once every statement was kept. Statements still
 * alive at exit are freed by those cleanup hooks, safely.
 * Hence db.exec for pragmas that set (db.pragma prepares a throwaway statement).
 */
type Kept = Statement<unknown[], unknown>[];

export function openSqliteStore(opts: SqliteStoreOptions): SqliteStore {
  const db = new Database(opts.file, { timeout: 1000 });
  const kept: Kept = [];
  try {
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
    db.exec('PRAGMA temp_store = MEMORY');
    db.exec('PRAGMA cache_size = -65536');
    migrate(db, kept);
  } catch (err) {
    db.close();
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
      throw new Error(`${opts.file} is in use by another process (one aggregator per DATA_DIR)`, {
        cause: err,
      });
    }
    throw err;
  }
  return new SqliteStore(db, kept);
}

function migrate(db: DB, kept: Kept): void {
  const version = db.prepare<[], number>('PRAGMA user_version').pluck();
  kept.push(version);
  const current = version.get() ?? 0;
  for (const m of SQLITE_MIGRATIONS) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.exec(`PRAGMA user_version = ${m.version}`);
    }).immediate();
  }
}

export class SqliteStore implements Store {
  private applied: RangeSet;
  private counterCache: { unique_processed: number; duplicate_dropped: number };
  private readonly insertEvent: Statement<[string, string, string, string, string, string]>;
  private readonly offsetOf: Statement<[string, string], { offset: number }>;
  private readonly upsertTopic: Statement<[string, number, number, number | null, string | null]>;
  private readonly addCounters: Statement<[number, number]>;
  private readonly deleteRange: Statement<[number]>;
  private readonly putRange: Statement<[number, number]>;
  private readonly listStatements = new Map<string, Statement<unknown[], EventRow>>();
  private readonly getEvent: Statement<[string, string], EventRow>;
  private readonly topicRows: Statement<[], TopicSummary>;
  private readonly topicList: Statement<[], string>;
  private readonly walCheckpoint: Statement<[], unknown>;
  private readonly applyTx: (deliveries: readonly Delivery[], at: string) => ApplyResult;
  private closed = false;

  constructor(
    private readonly db: DB,
    /** Statements used once, kept alive with the database (see Kept). */
    private readonly kept: Kept,
  ) {
    const rangeRows = db.prepare('SELECT from_seq, to_seq FROM applied_ranges').raw();
    const counterRow = db.prepare(
      'SELECT unique_processed, duplicate_dropped FROM counters WHERE id = 1',
    );
    this.kept.push(rangeRows, counterRow);
    this.applied = new RangeSet(rangeRows.all() as Range[]);
    this.counterCache = counterRow.get() as StoreCounters;
    this.getEvent = db.prepare(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE topic = ? AND event_id = ?`,
    );
    this.topicRows = db.prepare(
      `SELECT topic, unique_count AS "unique", duplicates, last_offset, last_processed_at
       FROM topics ORDER BY topic`,
    );
    this.topicList = db.prepare<[], string>('SELECT topic FROM topics ORDER BY topic').pluck();
    this.walCheckpoint = db.prepare('PRAGMA wal_checkpoint(TRUNCATE)');
    // Inserts the key once; `changes` is 0 for a key already stored (the duplicate case).
    this.insertEvent = db.prepare(
      `INSERT INTO events (topic, event_id, timestamp, source, payload, processed_at)
       VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (topic, event_id) DO NOTHING`,
    );
    this.offsetOf = db.prepare('SELECT "offset" FROM events WHERE topic = ? AND event_id = ?');
    this.upsertTopic = db.prepare(
      `INSERT INTO topics (topic, unique_count, duplicates, last_offset, last_processed_at)
       VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (topic) DO UPDATE SET
         unique_count = unique_count + excluded.unique_count,
         duplicates = duplicates + excluded.duplicates,
         last_offset = coalesce(excluded.last_offset, last_offset),
         last_processed_at = coalesce(excluded.last_processed_at, last_processed_at)`,
    );
    this.addCounters = db.prepare(
      `UPDATE counters SET unique_processed = unique_processed + ?,
         duplicate_dropped = duplicate_dropped + ? WHERE id = 1`,
    );
    this.deleteRange = db.prepare('DELETE FROM applied_ranges WHERE from_seq = ?');
    this.putRange = db.prepare('INSERT INTO applied_ranges (from_seq, to_seq) VALUES (?, ?)');
    const tx = db.transaction((deliveries: readonly Delivery[], at: string) =>
      this.applyInTransaction(deliveries, at),
    );
    this.applyTx = (deliveries, at) => tx.immediate(deliveries, at);
  }

  /** True when the queue sequence number was applied (for the log queue's recovery). */
  isApplied(seq: number): boolean {
    return this.applied.has(seq);
  }

  appliedRanges(): readonly Range[] {
    return this.applied.toArray();
  }

  /** Highest applied sequence number; the queue never reuses numbers at or below it. */
  maxAppliedSeq(): number {
    return this.applied.max();
  }

  apply(deliveries: readonly Delivery[], processedAt: Date): Promise<ApplyResult> {
    try {
      return Promise.resolve(this.applySync(deliveries, processedAt));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  applySync(deliveries: readonly Delivery[], processedAt: Date): ApplyResult {
    const snapshot = new RangeSet(this.applied.toArray());
    try {
      const result = this.applyTx(deliveries, processedAt.toISOString());
      this.counterCache = {
        unique_processed: this.counterCache.unique_processed + result.stored,
        duplicate_dropped: this.counterCache.duplicate_dropped + result.duplicates,
      };
      return result;
    } catch (err) {
      // The transaction rolled back; so must the in-memory mirror of applied ranges.
      this.applied = snapshot;
      throw err;
    }
  }

  private applyInTransaction(deliveries: readonly Delivery[], at: string): ApplyResult {
    const items: AppliedItem[] = new Array<AppliedItem>(deliveries.length);
    const topics = new Map<string, TopicDelta>();
    const fresh: number[] = [];
    let stored = 0;
    let duplicates = 0;
    for (let i = 0; i < deliveries.length; i++) {
      const { id, event } = deliveries[i] as Delivery;
      const seq = Number(id);
      if (!Number.isSafeInteger(seq) || seq < 1) {
        throw new TypeError(`delivery id ${id} is not a queue sequence number`);
      }
      if (this.applied.has(seq)) {
        items[i] = {
          delivery: id,
          topic: event.topic,
          event_id: event.event_id,
          status: 'redelivered',
          offset: null,
        };
        continue;
      }
      fresh.push(seq);
      let delta = topics.get(event.topic);
      if (delta === undefined) {
        delta = { unique: 0, duplicates: 0, lastOffset: null };
        topics.set(event.topic, delta);
      }
      const info = this.insertEvent.run(
        event.topic,
        event.event_id,
        event.timestamp,
        event.source,
        event.payload,
        at,
      );
      if (info.changes === 1) {
        const offset = Number(info.lastInsertRowid);
        stored++;
        delta.unique++;
        delta.lastOffset = offset;
        items[i] = {
          delivery: id,
          topic: event.topic,
          event_id: event.event_id,
          status: 'stored',
          offset,
        };
      } else {
        duplicates++;
        delta.duplicates++;
        const offset = this.offsetOf.get(event.topic, event.event_id)?.offset ?? null;
        items[i] = {
          delivery: id,
          topic: event.topic,
          event_id: event.event_id,
          status: 'duplicate',
          offset,
        };
      }
    }
    for (const [topic, d] of topics) {
      this.upsertTopic.run(
        topic,
        d.unique,
        d.duplicates,
        d.lastOffset,
        d.lastOffset === null ? null : at,
      );
    }
    if (stored + duplicates > 0) this.addCounters.run(stored, duplicates);
    for (const run of toRuns(fresh)) {
      const { removed, merged } = this.applied.add(run);
      for (const from of removed) this.deleteRange.run(from);
      this.putRange.run(merged[0], merged[1]);
    }
    return { items, stored, duplicates };
  }

  list(query: EventsQuery): Promise<StoredEvent[]> {
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
    const sql = `SELECT ${EVENT_COLUMNS} FROM events WHERE ${where.join(' AND ')} ORDER BY "offset" ${order} LIMIT ?`;
    let statement = this.listStatements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare<unknown[], EventRow>(sql);
      this.listStatements.set(sql, statement);
    }
    params.push(query.limit);
    return Promise.resolve(statement.all(...params));
  }

  get(topic: string, eventId: string): Promise<StoredEvent | null> {
    const row = this.getEvent.get(topic, eventId);
    return Promise.resolve(row ?? null);
  }

  topics(): Promise<TopicSummary[]> {
    return Promise.resolve(this.topicRows.all());
  }

  topicNames(): string[] {
    return this.topicList.all();
  }

  counters(): Promise<StoreCounters> {
    return Promise.resolve(this.countersNow());
  }

  countersNow(): StoreCounters {
    return this.counterCache;
  }

  /** Makes every commit so far durable (WAL checkpoint; syncs the database file). */
  checkpoint(): void {
    if (!this.closed) this.walCheckpoint.run();
  }

  ready(): Promise<boolean> {
    return Promise.resolve(!this.closed && this.db.open);
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.db.close();
    }
    return Promise.resolve();
  }
}
