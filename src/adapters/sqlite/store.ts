/**
 * Embedded store: SQLite (better-sqlite3) in WAL mode, one connection, one writer.
 *
 * - `apply` is one IMMEDIATE transaction per batch: skip deliveries already applied, insert
 *   each event with ON CONFLICT DO NOTHING, record the applied sequence ranges, update the
 *   counters and per-topic summaries. Offsets are rowids assigned by the single writer, so
 *   offset order is commit order and readers paging with `after` never skip.
 * - One process per DATA_DIR: the writer holds an exclusive lock on a small companion file
 *   (`<file>-owner`, see `holdOwnerLock`) for its whole life, so a second process on the
 *   same DATA_DIR fails at start instead of corrupting the queue log. The database itself
 *   uses normal locking so that read-only connections on reader threads (reader-thread.ts)
 *   can read beside the writer, as WAL allows.
 * - synchronous=NORMAL: a commit survives a process crash (SIGKILL); on power loss the last
 *   commits may roll back, which is harmless because the queue log still holds their
 *   events until `checkpoint()` (a durable WAL checkpoint) runs before log segments go.
 * - Counters are mirrored in memory after each commit so /stats never touches the disk.
 */
import { closeSync, fsyncSync, openSync } from 'node:fs';
import Database, { type Database as DB, type Statement } from 'better-sqlite3';
import type { StoredEvent } from '../../domain/event.js';
import type { EventsQuery } from '../../domain/schemas.js';
import type { Delivery } from '../../ports/queue.js';
import type {
  AppliedItem,
  ApplyResult,
  Store,
  StoreCounters,
  TopicsPage,
  TopicSummary,
} from '../../ports/store.js';
import { DEFAULT_READ_BYTES } from '../../ports/store.js';
import type { EncodedPage, PageFormat } from '../../domain/page.js';
import { SQLITE_MIGRATIONS } from './migrations.js';
import { SqliteReads } from './reads.js';
import { RangeSet, toRuns, type Range } from './ranges.js';

export interface SqliteStoreOptions {
  /** Path of the database file, or ':memory:'. */
  readonly file: string;
}

interface TopicDelta {
  unique: number;
  duplicates: number;
  lastOffset: number | null;
}

export function openSqliteStore(opts: SqliteStoreOptions): SqliteStore {
  let owner: DB | null = null;
  let db: DB | null = null;
  try {
    owner = opts.file === ':memory:' ? null : holdOwnerLock(`${opts.file}-owner`);
    db = new Database(opts.file, { timeout: 1000 });
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('temp_store = MEMORY');
    db.pragma('cache_size = -65536');
    migrate(db);
  } catch (err) {
    db?.close();
    owner?.close();
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
      throw new Error(`${opts.file} is in use by another process (one aggregator per DATA_DIR)`, {
        cause: err,
      });
    }
    throw err;
  }
  return new SqliteStore(db, owner);
}

/**
 * Opens `file` (a tiny SQLite database) and keeps an exclusive lock on it until closed:
 * locking_mode=EXCLUSIVE keeps the lock of the first write for the connection's life. A
 * second opener gets SQLITE_BUSY at once (timeout 0).
 */
function holdOwnerLock(file: string): DB {
  const owner = new Database(file, { timeout: 0 });
  try {
    owner.pragma('journal_mode = DELETE');
    owner.pragma('locking_mode = EXCLUSIVE');
    owner.exec('CREATE TABLE IF NOT EXISTS owner (pid INTEGER)');
    owner.prepare('INSERT INTO owner (pid) VALUES (?)').run(process.pid);
    owner.exec('DELETE FROM owner');
  } catch (err) {
    owner.close();
    throw err;
  }
  return owner;
}

function migrate(db: DB): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (const m of SQLITE_MIGRATIONS) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
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
  private readonly reads: SqliteReads;
  private readonly applyTx: (deliveries: readonly Delivery[], at: string) => ApplyResult;
  private closed = false;

  constructor(
    private readonly db: DB,
    private readonly owner: DB | null = null,
  ) {
    this.reads = new SqliteReads(db);
    const ranges = db.prepare('SELECT from_seq, to_seq FROM applied_ranges').raw().all() as Range[];
    this.applied = new RangeSet(ranges);
    this.counterCache = db
      .prepare('SELECT unique_processed, duplicate_dropped FROM counters WHERE id = 1')
      .get() as StoreCounters;
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

  list(query: EventsQuery, maxBytes = DEFAULT_READ_BYTES): Promise<StoredEvent[]> {
    return Promise.resolve(this.reads.list(query, maxBytes));
  }

  page(query: EventsQuery, maxBytes: number, format: PageFormat): Promise<EncodedPage> {
    return Promise.resolve(this.reads.page(query, maxBytes, format));
  }

  get(topic: string, eventId: string): Promise<StoredEvent | null> {
    return Promise.resolve(this.reads.get(topic, eventId));
  }

  topics(page: TopicsPage = { limit: Number.MAX_SAFE_INTEGER }): Promise<TopicSummary[]> {
    return Promise.resolve(this.reads.topics(page));
  }

  topicCount(): Promise<number> {
    return Promise.resolve(this.reads.topicCount());
  }

  topicNames(): string[] {
    return this.db.prepare<[], string>('SELECT topic FROM topics ORDER BY topic').pluck().all();
  }

  counters(): Promise<StoreCounters> {
    return Promise.resolve(this.countersNow());
  }

  countersNow(): StoreCounters {
    return this.counterCache;
  }

  /**
   * Makes every commit so far durable (WAL checkpoint; syncs the database file). A reader
   * thread still on an older snapshot can keep the checkpoint from finishing (it reports
   * busy after the busy timeout, and may not even have synced the WAL); every commit is in
   * the WAL then, so syncing the WAL file makes them durable all the same.
   */
  checkpoint(): void {
    if (this.closed) return;
    const result = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    if ((result[0]?.busy ?? 0) !== 0 && this.db.name !== ':memory:') {
      const fd = openSync(`${this.db.name}-wal`, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
  }

  ready(): Promise<boolean> {
    return Promise.resolve(!this.closed && this.db.open);
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.db.close();
      this.owner?.close();
    }
    return Promise.resolve();
  }
}
