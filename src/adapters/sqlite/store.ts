/**
 * Embedded store: SQLite (better-sqlite3) in WAL mode, one connection, one writer.
 *
 * - `apply` is one IMMEDIATE transaction per batch: skip deliveries already applied, look each
 *   event's key up among the keys held in memory and in dedup_keys, insert the new events and
 *   hold their keys (recent-keys.ts: written to dedup_keys in one sorted pass every
 *   RECENT_KEYS_MAX keys), record the applied sequence ranges, update the counters and
 *   per-topic summaries. Offsets are rowids assigned by the single writer, so
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
 *
 * Retention (src/domain/retention.ts). Dedup keys live in `dedup_keys` (24-byte compact key
 * -> offset, first seen), apart from the event rows, so they outlive them. The events live in
 * buckets (buckets.ts): tables of contiguous offset ranges; the writer inserts into the last
 * one and, before a batch, starts a new one when `bucketDue` says so (its own small
 * transaction: a crash after it leaves an empty bucket, which is harmless). `expire` is one
 * IMMEDIATE transaction (expiry.ts) that moves the retention floor above the oldest expired
 * offsets with the same counts moved from `stored` to `expired` (and out of `stored_bytes` and
 * the topics' `stored`), and drops a bucket once it is wholly below the floor: a crash at any
 * point leaves either the whole step or none of it. A dropped bucket's pages go on SQLite's
 * freelist and new buckets reuse them (auto_vacuum stays NONE; README "Retention" has the
 * measurement), so under a steady load the file stops growing. Offsets are assigned from
 * counters.last_offset, never from max(rowid), so offsets are never used twice.
 */
import { closeSync, fsyncSync, openSync } from 'node:fs';
import type { Database as DB, Statement } from 'better-sqlite3';
import { DEDUP_KEY_BYTES, dedupKeyHash, writeDedupKey } from '../../domain/dedup-key.js';
import type { StoredEvent } from '../../domain/event.js';
import { eventBytes, KEEP_FOREVER, type RetentionPolicy } from '../../domain/retention.js';
import type { EventsQuery } from '../../domain/schemas.js';
import type { Delivery, DeliveryPositions } from '../../ports/queue.js';
import { sequencePositions } from '../positions.js';
import type {
  AppliedItem,
  ApplyResult,
  ExpiryStep,
  Store,
  StoreCounters,
  TopicsPage,
  TopicSummary,
} from '../../ports/store.js';
import { SqliteExpiry, type SqliteExpiryStep } from './expiry.js';
import {
  BUCKET_MAX_ROWS,
  bucketDue,
  bucketsBetween,
  bucketTable,
  createBucket,
  type Bucket,
} from './buckets.js';
import { countersAfterApply, DEFAULT_READ_BYTES } from '../../ports/store.js';
import type { EncodedPage, PageFormat } from '../../domain/page.js';
import Database from './driver.js';
import { damagedStoreError, readMarker, rowChecksum } from './damage.js';
import { SQLITE_MIGRATIONS } from './migrations.js';
import { SqliteReads } from './reads.js';
import { RangeSet, toRuns, type Range } from './ranges.js';
import { RECENT_KEYS_MAX, RecentKeys } from './recent-keys.js';

/**
 * The delivery positions this store can keep: dense sequence numbers, held as ranges
 * (applied_ranges). A composition pairing it with a queue checks that queue with
 * `requireSqlitePositions`, so a queue with any other positions fails at open, not at the
 * first apply.
 */
export const SQLITE_POSITIONS: DeliveryPositions = sequencePositions;

/** Throws, naming both kinds, unless `positions` are the ones this store keeps. */
export function requireSqlitePositions(positions: DeliveryPositions): void {
  if (positions.kind !== SQLITE_POSITIONS.kind) {
    throw new TypeError(
      `the SQLite store keeps ${SQLITE_POSITIONS.kind} positions (dense, as ranges); this queue's are ${positions.kind}`,
    );
  }
}

export interface SqliteStoreOptions {
  /** Path of the database file, or ':memory:'. */
  readonly file: string;
  /** Default: keep everything forever. */
  readonly retention?: RetentionPolicy;
  /** Tests only: called inside an expiry step after its changes, before its commit. */
  readonly duringExpiry?: () => void;
  /** Tests only: rows at most per bucket (default BUCKET_MAX_ROWS). */
  readonly bucketRows?: number;
  /** Tests only: keys held in memory before a flush (default RECENT_KEYS_MAX). */
  readonly recentKeys?: number;
}

interface TopicDelta {
  unique: number;
  duplicates: number;
  lastOffset: number | null;
}

interface Counts {
  unique_processed: number;
  duplicate_dropped: number;
  stored: number;
  expired: number;
  stored_bytes: number;
  last_offset: number;
}

/** Applied batch result plus the bytes it stored (the thread mirrors them). */
export interface SqliteApplyResult extends ApplyResult {
  readonly bytes: number;
  /** counters.last_offset after this batch. */
  readonly lastOffset: number;
}

/**
 * Statements used once (migration, start-up reads) stay referenced until the database
 * closes. Not a correctness requirement any more: the Node 24 abort that once made it one
 * came from better-sqlite3 12's ObjectWrap and is avoided by the driver choice (driver.ts).
 */
export type Kept = Statement<unknown[], unknown>[];

/**
 * WAL pages after which a commit checkpoints them into the database file (SQLite's default is
 * 1,000, a 4 MiB WAL). Each checkpoint copies the pages and syncs the WAL and the database
 * file, 2-4 ms each here, on the one writer thread. Random dedup keys (content-hash ids as
 * OTLP records without log.record.uid get, UUID v4) dirty about one key page per event, so at
 * 1,000 pages that was a checkpoint every ~1,000 events. Measured in the server (BENCHMARKS
 * "O1", session 5, `scripts/o1-ab.mjs`, 8 interleaved rounds against the same build at 1,000):
 * OTLP ingest end to end +11 %, W1 with content-hash ids +21 %, W1 itself not slower (12
 * rounds of `scripts/w1-ab.mjs`). In process with the final checkpoint counted
 * (`scripts/apply-ab.mjs`), CPU per event is unchanged and events/s higher: the gain is the
 * writer waiting for fewer syncs. Session 3 found no gain for W1's own ids, whose keys share
 * pages (dedup-key.ts). The WAL file keeps its largest size until the checkpoint before a
 * queue segment's deletion truncates it (README "How it works").
 */
const WAL_AUTOCHECKPOINT_PAGES = 4_000;

/**
 * Keys per INSERT when the held keys are flushed (recent-keys.ts). A statement run crosses from
 * JavaScript into SQLite and back; for a 24-byte key that crossing cost about as much as the
 * B-tree insert. Measured in process on 300,000 keys (BENCHMARKS "O1, session 8"): 1.3-1.5
 * against 2.4-2.6 us per key for one row per run.
 */
const FLUSH_ROWS = 64;

export function openSqliteStore(opts: SqliteStoreOptions): SqliteStore {
  // Damage found by an earlier run stops start-up with its line (damage.ts).
  const recorded = opts.file === ':memory:' ? null : readMarker(opts.file);
  if (recorded !== null) throw new Error(recorded);
  let owner: DB | null = null;
  let db: DB | null = null;
  const kept: Kept = [];
  try {
    owner = opts.file === ':memory:' ? null : holdOwnerLock(`${opts.file}-owner`);
    db = new Database(opts.file, { timeout: 1000 });
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
    db.exec('PRAGMA temp_store = MEMORY');
    db.exec('PRAGMA cache_size = -65536');
    db.exec(`PRAGMA wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    createStoreSchema(db, kept);
    // Inside the try: the constructor reads counters, applied positions and recent keys,
    // the pages where damage stops start-up.
    return new SqliteStore(
      db,
      kept,
      opts.retention ?? KEEP_FOREVER,
      opts.duringExpiry,
      owner,
      opts.bucketRows,
      opts.recentKeys,
    );
  } catch (err) {
    db?.close();
    owner?.close();
    throw damagedStoreError(opts.file, inUse(opts.file, err));
  }
}

/**
 * Opens `file` (a tiny SQLite database) and keeps an exclusive lock on it until closed:
 * locking_mode=EXCLUSIVE keeps the lock of the first write for the connection's life. A
 * second opener gets SQLITE_BUSY at once (timeout 0).
 */
export function holdOwnerLock(file: string): DB {
  const owner = new Database(file, { timeout: 0 });
  try {
    owner.exec('PRAGMA journal_mode = DELETE');
    owner.exec('PRAGMA locking_mode = EXCLUSIVE');
    owner.exec('CREATE TABLE IF NOT EXISTS owner (pid INTEGER)');
    owner.exec(`INSERT INTO owner (pid) VALUES (${process.pid})`);
    owner.exec('DELETE FROM owner');
  } catch (err) {
    owner.close();
    throw inUse(file.replace(/-owner$/, ''), err);
  }
  return owner;
}

/** The error for a store another process holds (else `err` itself). */
function inUse(file: string, err: unknown): unknown {
  const code = (err as { code?: string }).code;
  if (code !== 'SQLITE_BUSY' && code !== 'SQLITE_LOCKED') return err;
  return new Error(`${file} is in use by another process (one aggregator per DATA_DIR)`, {
    cause: err,
  });
}

/**
 * Brings `db` to the current schema (an empty database gets all of it): the SQL functions the
 * migrations call, the numbered migrations, the checksum column. Also used by the store's
 * salvage (salvage.ts) to build the new file.
 */
export function createStoreSchema(db: DB, kept: Kept): void {
  db.function('logsieve_key', { deterministic: true }, (topic: unknown, eventId: unknown) =>
    dedupKeyHash(String(topic), String(eventId)),
  );
  migrate(db, kept);
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
  ensureRowChecksums(db);
}

/**
 * Every bucket table has the `crc` column (damage.ts rowChecksum). Outside the numbered
 * migrations on purpose: an older release opening the store (a downgrade) knows nothing of
 * the column and creates buckets without it, and would refuse a user_version above its own;
 * this runs at every open and adds it wherever it is missing. A nullable column is added
 * without rewriting a row; rows without a checksum are read unchecked.
 */
function ensureRowChecksums(db: DB): void {
  const buckets = db.prepare<[], number>('SELECT n FROM buckets ORDER BY n').pluck().all();
  const missing = buckets
    .map((n) => bucketTable(n))
    .filter(
      (t) => !(db.pragma(`table_info(${t})`) as { name: string }[]).some((c) => c.name === 'crc'),
    );
  if (missing.length === 0) return;
  db.transaction(() => {
    for (const t of missing) db.exec(`ALTER TABLE ${t} ADD COLUMN crc INTEGER`);
  }).immediate();
}

export class SqliteStore implements Store {
  private applied: RangeSet;
  private counts: Counts;
  private readonly insertKey: Statement<[Buffer, number, number]>;
  /** FLUSH_ROWS keys per statement (see FLUSH_ROWS). */
  private readonly insertKeys: Statement<(Buffer | number)[]>;
  private readonly keyOf: Statement<[Buffer], number>;
  private readonly setKeysOffset: Statement<[number]>;
  /** The keys of the events above keysOffset (recent-keys.ts). */
  private readonly recent = new RecentKeys();
  /** counters.keys_offset as committed. */
  private keysOffset: number;
  /** The keys_offset a flush in the open transaction wrote (the held keys go once it commits). */
  private flushedUpTo: number | null = null;
  /** Inserts into the current bucket; replaced when a new bucket starts. */
  private insertEvent: Statement<[number, string, string, string, string, string, string, number]>;
  /** The bucket being written, and the processed_at (ms) of its first event. */
  private current: Bucket;
  private openedAtMs: number | null;
  private readonly rollTx: (n: number, first: number) => void;
  private readonly upsertTopic: Statement<
    [string, number, number, number, number | null, string | null]
  >;
  private readonly addCounters: Statement<
    [{ stored: number; duplicates: number; bytes: number; lastOffset: number }]
  >;
  private readonly deleteRange: Statement<[number]>;
  private readonly putRange: Statement<[number, number]>;
  private readonly reads: SqliteReads;
  private readonly applyTx: (deliveries: readonly Delivery[], at: Date) => SqliteApplyResult;
  private readonly expireTx: (now: Date) => SqliteExpiryStep;
  private readonly walCheckpoint: Statement<[], { busy: number }>;
  private readonly topicList: Statement<[], string>;
  private closed = false;
  private readonly retention: RetentionPolicy;

  constructor(
    private readonly db: DB,
    /** Statements used once, kept alive with the database (see Kept). */
    private readonly kept: Kept,
    retention: RetentionPolicy,
    duringExpiry?: () => void,
    private readonly owner: DB | null = null,
    private readonly bucketRows: number = BUCKET_MAX_ROWS,
    private readonly recentKeysMax: number = RECENT_KEYS_MAX,
  ) {
    this.reads = new SqliteReads(db);
    const rangeRows = db.prepare('SELECT from_seq, to_seq FROM applied_ranges').raw();
    const counterRow = db.prepare(
      `SELECT unique_processed, duplicate_dropped, stored, expired, stored_bytes, last_offset
       FROM counters WHERE id = 1`,
    );
    this.kept.push(rangeRows, counterRow);
    this.applied = new RangeSet(rangeRows.all() as Range[]);
    this.counts = counterRow.get() as Counts;
    const keysOffsetRow = db
      .prepare<[], number>('SELECT keys_offset FROM counters WHERE id = 1')
      .pluck();
    this.kept.push(keysOffsetRow);
    this.keysOffset = keysOffsetRow.get() ?? 0;
    this.walCheckpoint = db.prepare('PRAGMA wal_checkpoint(TRUNCATE)');
    this.topicList = db.prepare<[], string>('SELECT topic FROM topics ORDER BY topic').pluck();
    // One key per (topic, event_id), kept after its event expires. Written by the flush of
    // the recent keys only, each checked absent when its event was stored. A key already there
    // can only come from a store whose keys_offset lags its keys (written by hand): the row
    // already holds what the flush would write, so it stays, and the flush goes on.
    this.insertKey = db.prepare(
      `INSERT INTO dedup_keys (key, "offset", first_seen) VALUES (?, ?, ?)
       ON CONFLICT (key) DO NOTHING`,
    );
    this.insertKeys = db.prepare(
      `INSERT INTO dedup_keys (key, "offset", first_seen)
       VALUES ${new Array<string>(FLUSH_ROWS).fill('(?, ?, ?)').join(', ')}
       ON CONFLICT (key) DO NOTHING`,
    );
    this.keyOf = db
      .prepare<[Buffer], number>('SELECT "offset" FROM dedup_keys WHERE key = ?')
      .pluck();
    this.setKeysOffset = db.prepare('UPDATE counters SET keys_offset = ? WHERE id = 1');
    const lastBucket = db
      .prepare<[], [number, number]>('SELECT n, first_offset FROM buckets ORDER BY n DESC LIMIT 1')
      .raw();
    this.kept.push(lastBucket);
    const [n, first] = lastBucket.get() ?? [0, 1];
    this.current = { n, first };
    this.insertEvent = this.insertInto(n);
    const firstAt = db
      .prepare<[number], string>(
        `SELECT processed_at FROM ${bucketTable(n)} WHERE "offset" >= ? ORDER BY "offset" LIMIT 1`,
      )
      .pluck();
    this.kept.push(firstAt);
    const opened = firstAt.get(first);
    this.openedAtMs = opened === undefined ? null : Date.parse(opened);
    const roll = db.transaction((next: number, from: number) => createBucket(db, next, from));
    this.rollTx = (next, from) => roll.immediate(next, from);
    this.upsertTopic = db.prepare(
      `INSERT INTO topics (topic, unique_count, duplicates, stored, last_offset, last_processed_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (topic) DO UPDATE SET
         unique_count = unique_count + excluded.unique_count,
         duplicates = duplicates + excluded.duplicates,
         stored = stored + excluded.stored,
         last_offset = coalesce(excluded.last_offset, last_offset),
         last_processed_at = coalesce(excluded.last_processed_at, last_processed_at)`,
    );
    this.addCounters = db.prepare(
      `UPDATE counters SET unique_processed = unique_processed + @stored,
         duplicate_dropped = duplicate_dropped + @duplicates, stored = stored + @stored,
         stored_bytes = stored_bytes + @bytes, last_offset = max(last_offset, @lastOffset)
       WHERE id = 1`,
    );
    this.deleteRange = db.prepare('DELETE FROM applied_ranges WHERE from_seq = ?');
    this.putRange = db.prepare('INSERT INTO applied_ranges (from_seq, to_seq) VALUES (?, ?)');
    const tx = db.transaction((deliveries: readonly Delivery[], at: Date) =>
      this.applyInTransaction(deliveries, at),
    );
    this.applyTx = (deliveries, at) => tx.immediate(deliveries, at);
    this.retention = retention;
    const expiry = new SqliteExpiry(db, retention, duringExpiry, bucketRows, (floor) =>
      this.beforeFloorMoves(floor),
    );
    const etx = db.transaction((now: Date) => expiry.step(now, this.counts.stored_bytes));
    this.expireTx = (now) => etx.immediate(now);
    this.recoverRecentKeys();
  }

  /**
   * Rebuilds the held keys from the event rows above keys_offset (recent-keys.ts): after a
   * crash they are the only copy of those keys. At most RECENT_KEYS_MAX plus a batch of rows,
   * read in offset order from the buckets that hold them.
   */
  private recoverRecentKeys(): void {
    const buckets = this.db
      .prepare<[], [number, number]>('SELECT n, first_offset FROM buckets ORDER BY n')
      .raw();
    this.kept.push(buckets);
    const key = Buffer.allocUnsafe(DEDUP_KEY_BYTES);
    const live = buckets.all().map(([n, first]) => ({ n, first }));
    for (const { n } of bucketsBetween(live, this.keysOffset, Number.POSITIVE_INFINITY)) {
      const rows = this.db
        .prepare<[number], [number, string, string, string]>(
          `SELECT "offset", topic, event_id, processed_at FROM ${bucketTable(n)}
           WHERE "offset" > ? ORDER BY "offset"`,
        )
        .raw();
      this.kept.push(rows);
      for (const [offset, topic, eventId, processedAt] of rows.iterate(this.keysOffset)) {
        writeDedupKey(topic, eventId, key, 0);
        this.recent.add(key.toString('latin1'), offset, Math.floor(Date.parse(processedAt) / 1000));
      }
    }
    this.recent.commit();
  }

  /**
   * Writes every held key to dedup_keys in key order and moves keys_offset to the last offset
   * stored, inside the caller's transaction; the held keys are forgotten once it commits
   * (`settle`).
   */
  private flushKeys(upTo: number): void {
    const held = this.recent.sorted();
    const keys = Buffer.allocUnsafe(DEDUP_KEY_BYTES * held.length);
    const args: (Buffer | number)[] = new Array<Buffer | number>(FLUSH_ROWS * 3);
    let i = 0;
    const put = (k: number, into: (Buffer | number)[], at: number): void => {
      const { name, offset, seen } = held[k] as (typeof held)[number];
      const from = k * DEDUP_KEY_BYTES;
      keys.write(name, from, DEDUP_KEY_BYTES, 'latin1');
      into[at] = keys.subarray(from, from + DEDUP_KEY_BYTES);
      into[at + 1] = offset;
      into[at + 2] = seen;
    };
    for (; i + FLUSH_ROWS <= held.length; i += FLUSH_ROWS) {
      for (let j = 0; j < FLUSH_ROWS; j++) put(i + j, args, j * 3);
      this.insertKeys.run(...args);
    }
    const one: (Buffer | number)[] = [0, 0, 0];
    for (; i < held.length; i++) {
      put(i, one, 0);
      this.insertKey.run(one[0] as Buffer, one[1] as number, one[2] as number);
    }
    this.setKeysOffset.run(upTo);
    this.flushedUpTo = upTo;
  }

  /** After a transaction: keep (committed) or undo (rolled back) what it did to the held keys. */
  private settle(committed: boolean): void {
    if (committed && this.flushedUpTo !== null) {
      this.recent.clear();
      this.keysOffset = this.flushedUpTo;
    } else if (committed) this.recent.commit();
    else this.recent.rollback();
    this.flushedUpTo = null;
  }

  /** Expiry is about to retain only the events above `floor`: their keys must be stored first. */
  private beforeFloorMoves(floor: number): void {
    if (floor > this.keysOffset && this.recent.size > 0) this.flushKeys(this.counts.last_offset);
  }

  private insertInto(
    n: number,
  ): Statement<[number, string, string, string, string, string, string, number]> {
    return this.db.prepare(
      `INSERT INTO ${bucketTable(n)} ("offset", topic, event_id, timestamp, source, payload, processed_at, crc)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
  }

  private switchTo(bucket: Bucket): void {
    this.current = bucket;
    this.insertEvent = this.insertInto(bucket.n);
    this.openedAtMs = null;
  }

  /** Starts a new bucket before a batch processed at `at` when the current one is due. */
  private rollIfDue(at: Date): void {
    const c = this.counts;
    const rows = c.last_offset - this.current.first + 1;
    const state = {
      rows: Math.max(0, rows),
      openedAtMs: this.openedAtMs,
      avgBytes: c.stored > 0 ? c.stored_bytes / c.stored : 0,
    };
    if (!bucketDue(this.retention, state, at.getTime(), this.bucketRows)) return;
    const next = { n: this.current.n + 1, first: c.last_offset + 1 };
    this.rollTx(next.n, next.first);
    this.switchTo(next);
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

  applySync(deliveries: readonly Delivery[], processedAt: Date): SqliteApplyResult {
    this.rollIfDue(processedAt);
    const snapshot = new RangeSet(this.applied.toArray());
    try {
      const result = this.applyTx(deliveries, processedAt);
      this.settle(true);
      this.counts = { ...countersAfterApply(this.counts, result), last_offset: result.lastOffset };
      if (this.openedAtMs === null && result.stored > 0) this.openedAtMs = processedAt.getTime();
      return result;
    } catch (err) {
      // The transaction rolled back; so must the in-memory mirror of applied ranges.
      this.applied = snapshot;
      this.settle(false);
      throw err;
    }
  }

  private applyInTransaction(
    deliveries: readonly Delivery[],
    processedAt: Date,
  ): SqliteApplyResult {
    const at = processedAt.toISOString();
    const seenAt = Math.floor(processedAt.getTime() / 1000);
    const items: AppliedItem[] = new Array<AppliedItem>(deliveries.length);
    const topics = new Map<string, TopicDelta>();
    const fresh: number[] = [];
    let stored = 0;
    let duplicates = 0;
    let bytes = 0;
    let lastOffset = this.counts.last_offset;
    // The batch's keys side by side in one buffer: one allocation per batch, not per event.
    const keys = Buffer.allocUnsafe(DEDUP_KEY_BYTES * deliveries.length);
    for (let i = 0; i < deliveries.length; i++) {
      const { id, event } = deliveries[i] as Delivery;
      // The id's position through the port (SQLITE_POSITIONS), never a parse of our own.
      const seq = Number(SQLITE_POSITIONS.encode(id).major);
      if (!Number.isSafeInteger(seq)) {
        throw new TypeError(`delivery id ${id} is beyond the SQLite store's sequence range`);
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
      const at0 = i * DEDUP_KEY_BYTES;
      writeDedupKey(event.topic, event.event_id, keys, at0);
      const key = keys.subarray(at0, at0 + DEDUP_KEY_BYTES);
      const offset = lastOffset + 1;
      const name = key.toString('latin1');
      const known = this.recent.offsetOf(name) ?? this.keyOf.get(key);
      if (known === undefined) {
        this.recent.add(name, offset, seenAt);
        this.insertEvent.run(
          offset,
          event.topic,
          event.event_id,
          event.timestamp,
          event.source,
          event.payload,
          at,
          rowChecksum(offset, event, at),
        );
        lastOffset = offset;
        stored++;
        bytes += eventBytes(event);
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
        items[i] = {
          delivery: id,
          topic: event.topic,
          event_id: event.event_id,
          status: 'duplicate',
          offset: known,
        };
      }
    }
    for (const [topic, d] of topics) {
      this.upsertTopic.run(
        topic,
        d.unique,
        d.duplicates,
        d.unique,
        d.lastOffset,
        d.lastOffset === null ? null : at,
      );
    }
    if (stored + duplicates > 0) this.addCounters.run({ stored, duplicates, bytes, lastOffset });
    for (const run of toRuns(fresh)) {
      const { removed, merged } = this.applied.add(run);
      for (const from of removed) this.deleteRange.run(from);
      this.putRange.run(merged[0], merged[1]);
    }
    if (this.recent.size >= this.recentKeysMax) this.flushKeys(lastOffset);
    return { items, stored, duplicates, bytes, lastOffset };
  }

  expire(now: Date): Promise<ExpiryStep> {
    try {
      return Promise.resolve(this.expireSync(now));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  expireSync(now: Date): SqliteExpiryStep {
    let step: SqliteExpiryStep;
    try {
      step = this.expireTx(now);
    } catch (err) {
      this.settle(false);
      throw err;
    }
    this.settle(true);
    if (step.current !== undefined) this.switchTo(step.current);
    const c = this.counts;
    this.counts = {
      ...c,
      stored: c.stored - step.expired,
      expired: c.expired + step.expired,
      stored_bytes: c.stored_bytes - step.bytes,
    };
    return step;
  }

  list(query: EventsQuery, maxBytes = DEFAULT_READ_BYTES): Promise<StoredEvent[]> {
    return Promise.resolve(this.reads.list(query, maxBytes));
  }

  page(query: EventsQuery, maxBytes: number, format: PageFormat): Promise<EncodedPage> {
    return Promise.resolve(this.reads.page(query, maxBytes, format));
  }

  get(topic: string, eventId: string): Promise<StoredEvent | null> {
    return Promise.resolve(this.reads.get(topic, eventId, this.heldOffset(topic, eventId)));
  }

  /**
   * The offset of the event whose key is held in memory (recent-keys.ts), or null: what a
   * read of (topic, event_id) on any connection needs besides dedup_keys (reads.ts get). Call
   * between transactions (the store thread serves it between batches).
   */
  heldOffset(topic: string, eventId: string): number | null {
    return this.recent.offsetOf(dedupKeyHash(topic, eventId).toString('latin1')) ?? null;
  }

  topics(page: TopicsPage = { limit: Number.MAX_SAFE_INTEGER }): Promise<TopicSummary[]> {
    return Promise.resolve(this.reads.topics(page));
  }

  topicCount(): Promise<number> {
    return Promise.resolve(this.reads.topicCount());
  }

  topicNames(): string[] {
    return this.topicList.all();
  }

  counters(): Promise<StoreCounters> {
    return Promise.resolve(this.countersNow());
  }

  countersNow(): StoreCounters {
    const { unique_processed, duplicate_dropped, stored, expired, stored_bytes } = this.counts;
    return { unique_processed, duplicate_dropped, stored, expired, stored_bytes };
  }

  /**
   * Makes every commit so far durable (WAL checkpoint; syncs the database file). A reader
   * thread still on an older snapshot can keep the checkpoint from finishing (it reports
   * busy after the busy timeout, and may not even have synced the WAL); every commit is in
   * the WAL then, so syncing the WAL file makes them durable all the same.
   */
  checkpoint(): void {
    if (this.closed) return;
    const result = this.walCheckpoint.all();
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
      // The held keys go to dedup_keys now, so the next open has none to rebuild. A failure
      // (a full disk) leaves them to that rebuild: nothing is lost either way.
      if (this.recent.size > 0) {
        try {
          this.db.transaction(() => this.flushKeys(this.counts.last_offset)).immediate();
          this.settle(true);
        } catch {
          this.settle(false);
        }
      }
      this.db.close();
      this.owner?.close();
    }
    return Promise.resolve();
  }
}
