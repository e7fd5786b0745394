/**
 * Event buckets of the SQLite store: the events live in a sequence of tables, each holding a
 * contiguous range of offsets, so that expiry frees space by dropping a whole table (the
 * SQLite counterpart of the PostgreSQL partitions) instead of deleting row by row.
 *
 * Shape. Bucket n is the table `events` (n = 0, the table every earlier schema had, kept
 * under its name by migration 4) or `events_<n>`, each with the same three indexes,
 * `<table>_by_topic`, `<table>_by_source`, `<table>_by_topic_source`. The catalogue
 * `buckets (n, first_offset)` lists the live buckets: bucket n holds the offsets from its
 * first_offset up to the next bucket's first_offset - 1; the last bucket (the highest n) is
 * the one being written. Offsets are dense (the writer assigns last_offset + 1 to each stored
 * event), so a bucket's row count is its offset span and the catalogue needs no per-batch
 * update.
 *
 * What is retained is `counters.floor_offset`: an event is retained exactly when its offset is
 * above the floor (SPEC "Retention": expiry removes a prefix of the offsets). Expiry moves the
 * floor row-precisely with the counters (so `stored` always equals what /events returns), and
 * drops a bucket once all of its offsets are at or below the floor; reads skip offsets at or
 * below the floor, so rows of the partly expired oldest bucket are never served.
 *
 * When a new bucket starts (`bucketDue`): the writer rolls to a new bucket before a batch when
 * the current one holds BUCKET_MAX_ROWS rows, or, with RETENTION_MAX_AGE, its first event is
 * older than a sixteenth of the age (20 s -> 1.25 s; 7 d -> 10.5 h), or, with
 * RETENTION_MAX_BYTES, it holds a sixteenth of the bound (at the store's average event size).
 * A sixteenth keeps what expired but is not yet dropped to about 1/16 of what is retained
 * (the data dir bound, README "Retention") while a steady store has ~17 buckets, so a page
 * filtered to a rare topic costs ~17 index seeks. Keep-forever stores roll by rows only.
 *
 * Every connection (the writer, the reader threads) reads the catalogue and the floor in the
 * same read transaction as the rows (reads.ts), so a reader sees a bucket's creation or drop
 * together with the floor that goes with it. SQLite re-prepares a statement after another
 * connection changes the schema; a statement on a dropped bucket is never run again and
 * its cache entry is dropped.
 */
import type { Database as DB } from 'better-sqlite3';
import type { RetentionPolicy } from '../../domain/retention.js';

/**
 * Rows at most per bucket. Dropping a bucket reads every page of its table and indexes to put
 * them on the freelist: bench/sqlite-space.ts measured ~11 ms per drop of 20,000 rows (1.0 ms
 * per expiry step over its run, one drop per ten steps; BENCHMARKS "Growth and retention",
 * session 4), so a full bucket of 250,000 rows is a drop of the order of 140 ms, at most one
 * per step. Only buckets that fill up before their time span do (under RETENTION_MAX_AGE=20s
 * at 50,000 events/s a bucket is ~60,000 rows); fewer rows would mean more tables for a long
 * retention (7 d at 1,000 events/s is ~2,400 buckets already).
 */
export const BUCKET_MAX_ROWS = 250_000;
/** A bucket is at most this fraction of RETENTION_MAX_AGE (or of RETENTION_MAX_BYTES). */
export const BUCKET_FRACTION = 16;
/** Shortest time span of a bucket: a 1 s RETENTION_MAX_AGE gives 4 buckets a second, not 16. */
export const BUCKET_MIN_SPAN_MS = 250;
/** Fewest rows before a RETENTION_MAX_BYTES roll (a tiny bound would give tables of a few rows). */
export const BUCKET_MIN_ROWS_FOR_BYTES = 1_000;

export interface Bucket {
  readonly n: number;
  readonly first: number;
}

export function bucketTable(n: number): string {
  return n === 0 ? 'events' : `events_${n}`;
}

/**
 * DDL of bucket n (bucket 0 was created by migrations 1-3 with the same columns and indexes,
 * and given `crc` by store.ts ensureRowChecksums). `crc`: damage.ts rowChecksum, null in rows
 * stored before it existed.
 */
export function createBucketSql(n: number): string {
  const t = bucketTable(n);
  return `
    CREATE TABLE ${t} (
      "offset"     INTEGER PRIMARY KEY,
      topic        TEXT NOT NULL,
      event_id     TEXT NOT NULL,
      timestamp    TEXT NOT NULL,
      source       TEXT NOT NULL,
      payload      TEXT NOT NULL,
      processed_at TEXT NOT NULL,
      crc          INTEGER
    );
    CREATE INDEX ${t}_by_topic ON ${t} (topic, "offset");
    CREATE INDEX ${t}_by_source ON ${t} (source, "offset");
    CREATE INDEX ${t}_by_topic_source ON ${t} (topic, source, "offset");
  `;
}

/** Creates bucket n starting at offset `first`; the caller holds the write transaction. */
export function createBucket(db: DB, n: number, first: number): void {
  db.exec(createBucketSql(n));
  db.prepare('INSERT INTO buckets (n, first_offset) VALUES (?, ?)').run(n, first);
}

/** Drops bucket n and its catalogue row; the caller holds the write transaction. */
export function dropBucket(db: DB, n: number): void {
  db.exec(`DROP TABLE ${bucketTable(n)}`);
  db.prepare('DELETE FROM buckets WHERE n = ?').run(n);
}

/** The buckets of `live` (ascending) holding offsets in (lo, hi), in ascending order. */
export function bucketsBetween(live: readonly Bucket[], lo: number, hi: number): Bucket[] {
  const out: Bucket[] = [];
  for (let i = 0; i < live.length; i++) {
    const b = live[i] as Bucket;
    const next = live[i + 1];
    const last = next === undefined ? Number.POSITIVE_INFINITY : next.first - 1;
    if (last <= lo || b.first >= hi) continue;
    out.push(b);
  }
  return out;
}

/** The bucket holding `offset` (the last one starting at or below it), if any. */
export function bucketOf(live: readonly Bucket[], offset: number): Bucket | undefined {
  let found: Bucket | undefined;
  for (const b of live) {
    if (b.first > offset) break;
    found = b;
  }
  return found;
}

export interface BucketState {
  /** Rows in the current bucket. */
  readonly rows: number;
  /** processed_at (ms) of the current bucket's first event; null while it is empty. */
  readonly openedAtMs: number | null;
  /** Average stored event bytes of the store (0 when empty). */
  readonly avgBytes: number;
}

/** True when the writer should start a new bucket before a batch processed at `nowMs`. */
export function bucketDue(
  policy: RetentionPolicy,
  state: BucketState,
  nowMs: number,
  maxRows: number = BUCKET_MAX_ROWS,
): boolean {
  if (state.rows === 0) return false;
  if (state.rows >= maxRows) return true;
  if (policy.maxAgeMs !== null && state.openedAtMs !== null) {
    const span = Math.max(BUCKET_MIN_SPAN_MS, policy.maxAgeMs / BUCKET_FRACTION);
    if (nowMs - state.openedAtMs >= span) return true;
  }
  if (policy.maxBytes !== null && state.rows >= BUCKET_MIN_ROWS_FOR_BYTES) {
    if (state.rows * state.avgBytes >= policy.maxBytes / BUCKET_FRACTION) return true;
  }
  return false;
}
