/**
 * Salvage of a damaged embedded store (`logsieve recover`), run while the aggregator is
 * stopped. SPEC "Damage is never silent": a documented command keeps every intact record and
 * reports what it could not read. The queue log's counterpart is src/adapters/log/salvage.ts.
 *
 * What is kept. A new store is built beside the damaged one (`<file>.salvaged`) from what
 * SQLite can still read of it and whose checksum holds (damage.ts):
 * - the event rows, bucket by bucket into the same tables at the same offsets (a reader's
 *   `after` cursor stays valid); a row that fails its checksum is not copied. Retained offsets
 *   are dense (buckets.ts), so the events lost are exactly the retained offsets not copied,
 *   and they are reported as offset ranges;
 * - the dedup keys (the only copy of the keys of expired events), then the key of every
 *   copied event, so every key is on disk (keys_offset = last_offset);
 * - the applied positions, the per-topic counts and the counters, each rebuilt from the rest
 *   where its own pages cannot be read (`Copy.run`).
 * Each table is read in key order. Where a read fails with damage, `readAround` searches the
 * key space for the next key a read can start from (exponential, then binary search: at most
 * ~2 x 53 seeks for an offset, ~2 x 192 for a 24-byte dedup key) and goes on from there, so a
 * bad page costs the rows on it, or under it, and no more. Indexes are never read: the new
 * file's are built from the copied rows.
 *
 * States of the data dir, the marker `<file>-damaged` present throughout so no start can run
 * on a half-swapped store:
 *   damaged -> copy built (`<file>.salvaged`, synced) -> report written to
 *   `<data dir>/store-damaged/<time>/salvage-report.json` and the marker rewritten to name
 *   that directory -> the damaged file's -wal, -shm and main file moved there (never deleted)
 *   -> the copy renamed to `<file>` -> marker removed.
 * A crash before the marker is rewritten leaves the damaged store as it was (the next run
 * discards the half-built copy and starts again); after it, the next run finishes the swap
 * into the same directory and prints the saved report (`resumeSwap`).
 *
 * Limits (README, Departures): rows under a damaged interior page are lost with it (a query
 * cannot reach a page no readable parent points to; SQLite's page-scanning recovery is not in
 * the driver's build); a byte changed inside a row of a table without checksums (keys,
 * counters, topics, applied positions, rows stored before checksums) is copied as read; events
 * lost are counted as expired in /stats, since they are gone as expired ones are, so
 * `unique_processed = stored + expired` keeps holding.
 */
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Database as DB, Statement } from 'better-sqlite3';
import { DEDUP_KEY_BYTES, writeDedupKey } from '../../domain/dedup-key.js';
import { eventBytes } from '../../domain/retention.js';
import { syncDir } from '../log/segments.js';
import { bucketTable, createBucket, dropBucket, type Bucket } from './buckets.js';
import {
  damageMarker,
  integrityCheck,
  isDamageError,
  quickCheck,
  readMarker,
  rowChecksum,
  storeTables,
} from './damage.js';
import Database from './driver.js';
import { SQLITE_MIGRATIONS } from './migrations.js';
import { EVENT_COLUMNS, SqliteReads } from './reads.js';
import { createStoreSchema, holdOwnerLock, type Kept } from './store.js';

/** An inclusive range of keys of an ordered table. */
export interface KeySpan {
  readonly from: bigint;
  readonly to: bigint;
}

export interface StoreSalvageReport {
  /** What the check found (or the marker recorded); null: no damage, nothing was done. */
  readonly damage: string | null;
  /** Where the damaged file went (null when nothing was done). */
  readonly movedTo: string | null;
  /** Retained event rows copied, and how many of them had no checksum to verify. */
  readonly eventsCopied: number;
  readonly eventsUnchecked: number;
  /** Retained offsets not copied (unreadable, or failing their checksum), as ranges. */
  readonly eventsLost: readonly (readonly [number, number])[];
  /** Dedup keys in the new store: those read, and those of the copied events. */
  readonly keysCopied: number;
  /** Spans of the dedup key space that could not be read (keys as 24-byte integers). */
  readonly keySpansLost: readonly KeySpan[];
  /** Tables whose own rows could not all be read, rebuilt from the rest. */
  readonly rebuilt: readonly string[];
  /**
   * By how much unique_processed + duplicate_dropped exceeds (or, negative, falls short of)
   * the rebuilt applied positions: 0 but in a case the rebuild cannot settle (`Copy.run`).
   */
  readonly countsOffBy: number;
}

/** What the queue log beside the store holds, for rebuilding the applied positions. */
export interface QueueLogView {
  /** The seqs recorded as lost to queue log damage (never applied), ascending ranges. */
  readonly lost: readonly (readonly [number, number])[];
  /** The log's intact records in seq order. */
  records(): Iterable<{ readonly seq: number; readonly topic: string; readonly event_id: string }>;
}

/** The schema version this salvage understands (the current one). */
const SCHEMA_VERSION = SQLITE_MIGRATIONS[SQLITE_MIGRATIONS.length - 1]?.version ?? 0;
/** How the marker of a salvage in progress starts (`salvageStore`). */
const MARKER_PREFIX = 'salvage of';

type EventRow = [number, string, string, string, string, string, string, number | null];
type KeyRow = [Buffer, number, number];
type AppliedRow = [number, number];

/**
 * Salvages `file` when it is damaged (the marker says so, or the full check finds damage),
 * with `<file>-owner` held so no aggregator runs beside it. Throws when the store cannot be
 * read at all (its schema pages) or is in use; the damaged file is then left as it was.
 */
export async function salvageStore(
  file: string,
  now: Date,
  queue: QueueLogView | null,
): Promise<StoreSalvageReport> {
  const owner = holdOwnerLock(`${file}-owner`);
  try {
    const recorded = readMarker(file);
    const swap = recorded === null ? null : swapInProgress(file, recorded);
    if (swap !== null) return await resumeSwap(file, swap.aside);
    // What a read found while running may be where no check reaches again (a read's error
    // is not always reproducible): a recorded finding is salvaged for, whatever the check says.
    const damage = recorded ?? findDamage(file);
    if (damage === null) return nothingDone();
    await discardCopy(file);
    let report: StoreSalvageReport;
    try {
      report = buildCopy(file, copyOf(file), damage, queue);
    } catch (err) {
      await discardCopy(file);
      throw err;
    }
    await syncFile(copyOf(file));
    await syncDir(dirname(file));
    // The report is kept with the damaged file before the swap begins, so a swap finished by
    // a later run still tells what was lost.
    const name = now.toISOString().replace(/[:.]/g, '-');
    const aside = asideDir(file, name);
    await mkdir(aside, { recursive: true });
    const full = { ...report, movedTo: join(aside, basename(file)) };
    await writeFile(join(aside, REPORT_FILE), JSON.stringify(full, bigintsAsText), {
      flush: true,
    });
    await syncDir(aside);
    // Written whole or not at all (a torn marker would stop every later run).
    const marker = damageMarker(file);
    const line = `${MARKER_PREFIX} ${file} in progress (${name}): ${damage}\n`;
    await writeFile(`${marker}.tmp`, line, { flush: true });
    await rename(`${marker}.tmp`, marker);
    await syncDir(dirname(file));
    return await finishSwap(file, aside);
  } finally {
    owner.close();
  }
}

/** Where the report of a salvage is kept, beside the damaged file. */
const REPORT_FILE = 'salvage-report.json';

/** `<data dir>/store-damaged/<name>`: where the damaged files of one salvage go. */
function asideDir(file: string, name: string): string {
  return join(dirname(file), 'store-damaged', name);
}

/**
 * The aside directory an in-progress marker names (by its name alone, a timestamp: the data
 * dir's path may hold any character, and a relative one depends on the working directory),
 * or null for a marker of damage.
 */
function swapInProgress(file: string, marker: string): { aside: string } | null {
  if (!marker.startsWith(MARKER_PREFIX)) return null;
  const name = / in progress \(([0-9TZ-]+)\): /.exec(marker)?.[1];
  if (name === undefined) throw new Error(`cannot read the salvage marker: ${marker}`);
  return { aside: asideDir(file, name) };
}

/**
 * A swap a run did not finish. The marker is written once the copy is complete and synced:
 * with the copy still there, the damaged files (those not moved yet) go to the same aside
 * directory and the copy takes their place; without it, the copy is in place already and only
 * the marker is left to remove.
 */
async function resumeSwap(file: string, aside: string): Promise<StoreSalvageReport> {
  if (existsSync(copyOf(file))) return finishSwap(file, aside);
  if (!existsSync(file)) {
    throw new Error(`neither ${file} nor its salvaged copy ${copyOf(file)} exists`);
  }
  await rm(damageMarker(file), { force: true });
  await syncDir(dirname(file));
  return savedReport(aside);
}

/**
 * Moves what is left of the damaged store (-wal and -shm first: until the main file moves, a
 * resumed swap moves it too) into `aside`, puts the copy in its place, removes the marker.
 */
async function finishSwap(file: string, aside: string): Promise<StoreSalvageReport> {
  await mkdir(aside, { recursive: true });
  for (const suffix of ['-wal', '-shm', '']) {
    if (existsSync(`${file}${suffix}`)) {
      await rename(`${file}${suffix}`, join(aside, `${basename(file)}${suffix}`));
    }
  }
  await syncDir(aside);
  await rename(copyOf(file), file);
  await syncDir(dirname(file));
  await rm(damageMarker(file), { force: true });
  await syncDir(dirname(file));
  return savedReport(aside);
}

function bigintsAsText(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

async function savedReport(aside: string): Promise<StoreSalvageReport> {
  let text: string;
  try {
    text = await readFile(join(aside, REPORT_FILE), 'utf8');
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err;
    return {
      ...nothingDone(),
      damage: `an interrupted salvage, whose report ${join(aside, REPORT_FILE)} is gone`,
    };
  }
  const saved = JSON.parse(text) as Omit<StoreSalvageReport, 'keySpansLost'> & {
    keySpansLost: { from: string; to: string }[];
  };
  return {
    ...saved,
    keySpansLost: saved.keySpansLost.map((k) => ({ from: BigInt(k.from), to: BigInt(k.to) })),
  };
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function copyOf(file: string): string {
  return `${file}.salvaged`;
}

function nothingDone(): StoreSalvageReport {
  return {
    damage: null,
    movedTo: null,
    eventsCopied: 0,
    eventsUnchecked: 0,
    eventsLost: [],
    keysCopied: 0,
    keySpansLost: [],
    rebuilt: [],
    countsOffBy: 0,
  };
}

async function discardCopy(file: string): Promise<void> {
  for (const suffix of ['', '-wal', '-shm', '-journal']) {
    await rm(`${copyOf(file)}${suffix}`, { force: true });
  }
}

/**
 * The full check, on a read-only connection: each table with its indexes, then every event
 * row's checksum (the aggregator's full check, unpaced). The first finding, or null.
 */
function findDamage(file: string): string | null {
  let db: DB | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    for (const table of storeTables(db)) {
      let finding: string | null;
      try {
        finding = integrityCheck(db, table);
      } catch (err) {
        // The page that stops one table's check need not be that table's (a page of
        // events_11 stopped the check of counters): the whole file's check names it.
        if (!isDamageError(err)) throw err;
        return quickCheck(db) ?? (err as Error).message;
      }
      if (finding !== null) return `${finding} (table ${table})`;
    }
    const steps = new SqliteReads(db).checkRows();
    while (steps.next().done !== true);
    return null;
  } catch (err) {
    if (!isDamageError(err)) throw err;
    return (err as Error).message;
  } finally {
    db?.close();
  }
}

/** Builds the copy of `file` at `into` (see the header); the report without `movedTo`. */
function buildCopy(
  file: string,
  into: string,
  damage: string,
  queue: QueueLogView | null,
): StoreSalvageReport {
  const src = new Database(file, { readonly: true, fileMustExist: true });
  const out = new Database(into);
  const kept: Kept = [];
  try {
    const version = src.pragma('user_version', { simple: true }) as number;
    if (version !== SCHEMA_VERSION) {
      throw new Error(
        `${file} has schema version ${version}, this release salvages version ${SCHEMA_VERSION}`,
      );
    }
    // The copy is discarded unless complete and synced: no journal, no sync per commit.
    out.pragma('journal_mode = OFF');
    out.pragma('synchronous = OFF');
    createStoreSchema(out, kept);
    out.exec('BEGIN');
    const report = new Copy(src, out, queue).run(damage);
    out.exec('COMMIT');
    return report;
  } catch (err) {
    // Damage no read can get around: the schema (page 1 and the pages of sqlite_schema).
    if (!isDamageError(err)) throw err;
    throw new Error(
      `${file}: its schema cannot be read (${(err as Error).message}), so nothing can be salvaged; restore it from a backup`,
      { cause: err },
    );
  } finally {
    src.close();
    out.close();
  }
}

/** One read that may fail with damage: the value, or null when it did. */
function readable<T>(read: () => T): T | null {
  try {
    return read();
  } catch (err) {
    if (!isDamageError(err)) throw err;
    return null;
  }
}

/** A key of an ordered table mapped onto integers, so `readAround` can search it. */
interface KeyAxis<R> {
  readonly max: bigint;
  param(key: bigint): number | Buffer;
  keyOf(row: R): bigint;
}

/** Tables keyed by an integer (rowid) in the first column. */
function integerAxis<R extends readonly [number, ...unknown[]]>(): KeyAxis<R> {
  return {
    max: BigInt(Number.MAX_SAFE_INTEGER),
    param: (key) => Number(key),
    keyOf: (row) => BigInt(row[0]),
  };
}

const KEY_AXIS: KeyAxis<KeyRow> = {
  max: (1n << BigInt(DEDUP_KEY_BYTES * 8)) - 1n,
  param: (key) => Buffer.from(key.toString(16).padStart(DEDUP_KEY_BYTES * 2, '0'), 'hex'),
  // A key of another length can only be damage; ordered where its bytes put it.
  keyOf: (row) =>
    BigInt(
      `0x${Buffer.concat([row[0], Buffer.alloc(DEDUP_KEY_BYTES)])
        .subarray(0, DEDUP_KEY_BYTES)
        .toString('hex')}`,
    ),
};

/**
 * Every row of `from` (rows with key >= its parameter, in key order) a read can reach, passed
 * to `onRow`, which says whether the row is sound; returns the spans of the key space no read
 * could get past. After a failure at key k (the key after the last sound row read), the next
 * start is the lowest key above k a read succeeds from: found by stepping 1, 2, 4... above k, then bisecting the last step. A read
 * from a key that its B-tree routes past the damaged page succeeds; every key the damaged page
 * (or subtree) covers fails. Two damaged regions within one step may hide good rows between
 * them; they are reported in the span.
 */
export function readAround<R>(
  from: Statement<unknown[], R>,
  axis: KeyAxis<R>,
  onRow: (row: R) => boolean,
): KeySpan[] {
  const lost: KeySpan[] = [];
  const works = (key: bigint): boolean => readable(() => from.get(axis.param(key))) !== null;
  let start = 0n;
  for (;;) {
    // Only a row `onRow` takes as sound moves the restart point: a page that still parses
    // but holds garbage could give any key, and a restart past it would skip intact rows.
    let last: bigint | null = null;
    try {
      for (const row of from.iterate(axis.param(start))) {
        const key = axis.keyOf(row);
        if (onRow(row) && key >= start && (last === null || key > last)) last = key;
      }
      return lost;
    } catch (err) {
      if (!isDamageError(err)) throw err;
    }
    const failed = last === null ? start : last + 1n;
    let bad = failed;
    let step = 1n;
    let found: bigint | null = null;
    while (found === null && bad < axis.max) {
      const key = bad + step > axis.max ? axis.max : bad + step;
      if (works(key)) found = key;
      else bad = key;
      step *= 2n;
    }
    if (found === null) {
      lost.push({ from: failed, to: axis.max });
      return lost;
    }
    let good: bigint = found;
    while (good - bad > 1n) {
      const mid: bigint = (bad + good) / 2n;
      if (works(mid)) good = mid;
      else bad = mid;
    }
    lost.push({ from: failed, to: good - 1n });
    start = good;
  }
}

interface OldCounters {
  unique_processed: number;
  duplicate_dropped: number;
  stored: number;
  last_offset: number;
  floor_offset: number;
}

interface TopicRow {
  topic: string;
  unique_count: number;
  duplicates: number;
  last_offset: number | null;
  last_processed_at: string | null;
}

interface Tally {
  stored: number;
  lastOffset: number;
  lastProcessedAt: string;
}

/** The copy of one store: read `src`, write `out` (in its open transaction). */
class Copy {
  private readonly rebuilt: string[] = [];
  private readonly tallies = new Map<string, Tally>();
  private copied = 0;
  private unchecked = 0;
  private bytes = 0;
  /** Offsets copied, as ascending runs. */
  private readonly runs: [number, number][] = [];
  private maxKeyOffset = 0;
  private countsOffBy = 0;
  /** The keys of the events lost (latin1), left out of the copy (`copyKeys`). */
  private readonly droppedKeys = new Set<string>();

  constructor(
    private readonly src: DB,
    private readonly out: DB,
    private readonly queue: QueueLogView | null,
  ) {}

  run(damage: string): StoreSalvageReport {
    const old = readable(() =>
      this.src
        .prepare<[], OldCounters>(
          `SELECT unique_processed, duplicate_dropped, stored, last_offset, floor_offset
           FROM counters WHERE id = 1`,
        )
        .get(),
    );
    if (old === null || old === undefined) this.rebuilt.push('counters');
    // The retention floor unknown (counters unreadable), every row still on disk is taken as
    // retained, and what lies below the lowest one copied as expired.
    const buckets = this.copyBuckets(old?.floor_offset ?? 0);
    const lowest = this.runs[0]?.[0];
    const keys = this.copyKeys(
      old?.floor_offset ?? (lowest === undefined ? Number.MAX_SAFE_INTEGER : lowest - 1),
    );
    const applied = this.readApplied();
    const topics = this.copyTopics();
    // Without the counters, the highest offset ever assigned is the highest anything still
    // names: a row, a key, a topic's last event, or the offset before the last bucket's
    // first. Too low would hand out offsets again, behind readers' cursors.
    let lastOffset = Math.max(
      old?.last_offset ?? 0,
      this.runs.at(-1)?.[1] ?? 0,
      this.maxKeyOffset,
      (buckets.at(-1)?.first ?? 0) - 1,
    );
    for (const t of topics.values()) lastOffset = Math.max(lastOffset, t.last_offset ?? 0);
    this.placeBuckets(buckets, lastOffset);
    const floorNow = old?.floor_offset ?? (lowest ?? lastOffset + 1) - 1;
    // Offsets are dense from 1: one per unique event ever stored.
    let unique = old?.unique_processed ?? lastOffset;
    let duplicates =
      old?.duplicate_dropped ??
      (applied.complete
        ? count(applied.runs) - unique
        : [...topics.values()].reduce((n, t) => n + t.duplicates, 0));
    if (applied.complete) this.putApplied(applied.runs);
    else {
      this.rebuilt.push('applied_ranges');
      const positions = this.putApplied(
        this.rebuildApplied(applied.runs, unique + duplicates, floorNow),
      );
      const lost = (old?.stored ?? lastOffset - floorNow) - this.copied;
      const settled = settleCounts({
        unique,
        duplicates,
        applied: positions,
        lost,
        stored: this.copied,
      });
      unique = settled.unique;
      duplicates = settled.duplicates;
      this.countsOffBy = settled.offBy;
    }
    this.out
      .prepare(
        `UPDATE counters SET unique_processed = ?, duplicate_dropped = ?, stored = ?,
           expired = ?, stored_bytes = ?, last_offset = ?, floor_offset = ?, keys_offset = ?
         WHERE id = 1`,
      )
      .run(
        unique,
        duplicates,
        this.copied,
        unique - this.copied,
        this.bytes,
        lastOffset,
        floorNow,
        lastOffset,
      );
    return {
      damage,
      movedTo: null,
      eventsCopied: this.copied,
      eventsUnchecked: this.unchecked,
      eventsLost: complement(this.runs, floorNow + 1, lastOffset),
      keysCopied:
        this.out.prepare<[], number>('SELECT count(*) FROM dedup_keys').pluck().get() ?? 0,
      keySpansLost: keys.lost,
      rebuilt: this.rebuilt,
      countsOffBy: this.countsOffBy,
    };
  }

  /**
   * The key store as read, after `copyBuckets` put in the keys of the copied events, but for
   * the keys of the events lost (retained offsets not copied): with them gone, publishing a
   * lost event again stores it again instead of dropping it as a duplicate of nothing.
   */
  private copyKeys(floor: number): { lost: KeySpan[] } {
    const insert = this.out.prepare<KeyRow>(
      `INSERT INTO dedup_keys (key, "offset", first_seen) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING`,
    );
    const lost = readAround(
      this.src
        .prepare<[Buffer], KeyRow>(
          `SELECT key, "offset", first_seen FROM dedup_keys WHERE key >= ? ORDER BY key`,
        )
        .raw(),
      KEY_AXIS,
      (row) => {
        if (!Buffer.isBuffer(row[0]) || row[0].length !== DEDUP_KEY_BYTES) return false;
        this.maxKeyOffset = Math.max(this.maxKeyOffset, row[1]);
        if (row[1] > floor && !this.wasCopied(row[1])) {
          this.droppedKeys.add(row[0].toString('latin1'));
          return true;
        }
        insert.run(row[0], row[1], row[2]);
        return true;
      },
    );
    if (lost.length > 0) this.rebuilt.push('dedup_keys');
    return { lost };
  }

  /** The bucket catalogue, or the bucket tables the schema names when it cannot be read. */
  private oldBuckets(): { n: number; first: number | null }[] {
    const listed = readable(() =>
      this.src
        .prepare<[], [number, number]>('SELECT n, first_offset FROM buckets ORDER BY n')
        .raw()
        .all(),
    );
    if (listed !== null) return listed.map(([n, first]) => ({ n, first }));
    this.rebuilt.push('buckets');
    return this.src
      .prepare<[], string>(
        `SELECT name FROM sqlite_schema WHERE type = 'table' AND (name = 'events' OR name GLOB 'events_[0-9]*')`,
      )
      .pluck()
      .all()
      .map((name) => ({
        n: name === 'events' ? 0 : Number(name.slice('events_'.length)),
        first: null,
      }))
      .sort((a, b) => a.n - b.n);
  }

  /**
   * Copies every bucket's retained rows whose checksum holds into the same table of the copy,
   * with each one's key; returns the buckets with the first offset each will start at.
   */
  private copyBuckets(floor: number): Bucket[] {
    const old = this.oldBuckets();
    const placed: Bucket[] = [];
    const key = Buffer.allocUnsafe(DEDUP_KEY_BYTES);
    const insertKey = this.out.prepare<KeyRow>(
      `INSERT INTO dedup_keys (key, "offset", first_seen) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING`,
    );
    for (const [i, b] of old.entries()) {
      const table = bucketTable(b.n);
      const next = old[i + 1]?.first ?? null;
      if (b.n !== 0) createBucket(this.out, b.n, b.first ?? 0);
      const insert = this.out.prepare<EventRow>(
        `INSERT INTO ${table} (${EVENT_COLUMNS}, crc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      let lowest: number | null = null;
      readAround(
        this.src
          .prepare<[number], EventRow>(
            `SELECT ${EVENT_COLUMNS}, crc FROM ${table} WHERE "offset" >= ? ORDER BY "offset"`,
          )
          .raw(),
        integerAxis(),
        (row) => {
          const [offset, topic, event_id, timestamp, source, payload, processed_at, crc] = row;
          // Expired rows of a partly expired bucket stay behind; a row outside its bucket's
          // offsets can only be damage.
          if (b.first !== null && offset < b.first) return false;
          if (next !== null && offset >= next) return false;
          if (offset <= floor) return true;
          const event = { topic, event_id, timestamp, source, payload };
          if (crc !== null && crc !== rowChecksum(offset, event, processed_at)) return false;
          if (crc === null) this.unchecked++;
          insert.run(...row);
          writeDedupKey(topic, event_id, key, 0);
          insertKey.run(key, offset, Math.floor(Date.parse(processed_at) / 1000));
          this.note(offset, topic, processed_at, eventBytes(event));
          lowest ??= offset;
          return true;
        },
      );
      placed.push({ n: b.n, first: b.first ?? lowest ?? -1 });
    }
    return placed;
  }

  /** True when the event at `offset` was copied (binary search of the runs). */
  private wasCopied(offset: number): boolean {
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const [a, b] = this.runs[mid] as [number, number];
      if (offset < a) hi = mid - 1;
      else if (offset > b) lo = mid + 1;
      else return true;
    }
    return false;
  }

  private note(offset: number, topic: string, processedAt: string, bytes: number): void {
    this.copied++;
    this.bytes += bytes;
    const run = this.runs.at(-1);
    if (run !== undefined && run[1] === offset - 1) run[1] = offset;
    else this.runs.push([offset, offset]);
    const t = this.tallies.get(topic);
    if (t === undefined)
      this.tallies.set(topic, { stored: 1, lastOffset: offset, lastProcessedAt: processedAt });
    else {
      t.stored++;
      t.lastOffset = offset;
      t.lastProcessedAt = processedAt;
    }
  }

  /**
   * The catalogue of the copy: every old bucket at its first offset. Where the catalogue was
   * rebuilt, a bucket with no row copied is dropped (its first offset is unknown), unless it
   * is the last, which the writer goes on with from the next offset.
   */
  private placeBuckets(buckets: Bucket[], lastOffset: number): void {
    if (!buckets.some((b) => b.n === 0)) dropBucket(this.out, 0);
    const setFirst = this.out.prepare('UPDATE buckets SET first_offset = ? WHERE n = ?');
    for (const [i, b] of buckets.entries()) {
      if (b.first >= 0) setFirst.run(b.first, b.n);
      else if (i < buckets.length - 1) dropBucket(this.out, b.n);
      else setFirst.run(lastOffset + 1, b.n);
    }
  }

  /** The applied positions that can be read; `complete` when every one could. */
  private readApplied(): { runs: [number, number][]; complete: boolean } {
    const runs: [number, number][] = [];
    const lost = readAround(
      this.src
        .prepare<[number], AppliedRow>(
          'SELECT from_seq, to_seq FROM applied_ranges WHERE from_seq >= ? ORDER BY from_seq',
        )
        .raw(),
      integerAxis(),
      (row) => {
        if (row[1] < row[0]) return false;
        runs.push([row[0], row[1]]);
        return true;
      },
    );
    return { runs, complete: lost.length === 0 };
  }

  /** Writes the applied positions of the copy; returns how many sequence numbers they hold. */
  private putApplied(runs: readonly [number, number][]): number {
    const insert = this.out.prepare<AppliedRow>(
      'INSERT INTO applied_ranges (from_seq, to_seq) VALUES (?, ?)',
    );
    for (const [a, b] of runs) insert.run(a, b);
    return count(runs);
  }

  /**
   * Applied positions some of which cannot be read, rebuilt. The consumer applies the queue
   * in order, a batch at a time, so what it had applied is about the first `counted`
   * sequence numbers not lost to queue log damage (up to `end`): exactly so after a clean
   * stop. After a crash a batch may have been in flight while a later one committed, and a
   * batch that failed again after each restart stays behind while later ones are applied. So,
   * over the whole log: a record whose event the store never saw (its key is neither in the
   * copy nor among the keys dropped for events lost here) is left for the consumer to apply,
   * and as many records after `end` whose event the store holds are taken as applied instead.
   * The exception is a record older than the first delivery of an event the store still
   * retains (`firstRetained`): its key may be missing because its event expired and
   * DEDUP_WINDOW let the key go, or because its key sat in a span that could not be read,
   * and it is taken as applied, so that no expired event is stored again. A record left
   * unapplied that long, while every later one was, would be lost; a later duplicate of an
   * event that expired since, its key gone, is applied again and stores it again (README,
   * Departures). Both need the applied positions themselves damaged.
   */
  private rebuildApplied(
    read: readonly [number, number][],
    counted: number,
    floor: number,
  ): [number, number][] {
    const lost = [...(this.queue?.lost ?? [])].sort((x, y) => x[0] - y[0]);
    let end = counted;
    for (const [a, b] of lost) {
      if (a > end) break;
      end += b - a + 1;
    }
    const offsetOf = this.out
      .prepare<[Buffer], number>('SELECT "offset" FROM dedup_keys WHERE key = ?')
      .pluck();
    const key = Buffer.allocUnsafe(DEDUP_KEY_BYTES);
    let firstRetained = Number.POSITIVE_INFINITY;
    /** Records up to `end` whose event the store never saw, as runs of seqs. */
    const unseen: [number, number][] = [];
    /** Records after `end` whose event it holds. */
    const later: number[] = [];
    for (const r of this.queue?.records() ?? []) {
      writeDedupKey(r.topic, r.event_id, key, 0);
      const offset = offsetOf.get(key);
      if (offset !== undefined && offset > floor) firstRetained = Math.min(firstRetained, r.seq);
      const seen = offset !== undefined || this.droppedKeys.has(key.toString('latin1'));
      if (r.seq <= end && !seen) {
        const run = unseen.at(-1);
        if (run !== undefined && run[1] === r.seq - 1) run[1] = r.seq;
        else unseen.push([r.seq, r.seq]);
      } else if (r.seq > end && seen) later.push(r.seq);
    }
    const left = unseen
      .filter(([, b]) => b >= firstRetained)
      .map(([a, b]): [number, number] => [Math.max(a, firstRetained), b]);
    const taken = later.slice(0, count(left)).map((s): [number, number] => [s, s]);
    const applied = complement(
      [...lost, ...left].sort((x, y) => x[0] - y[0]),
      1,
      end,
    );
    const seqs = [...applied, ...taken, ...read].sort((x, y) => x[0] - y[0]);
    const merged: [number, number][] = [];
    for (const [a, b] of seqs) {
      const last = merged.at(-1);
      if (last !== undefined && a <= last[1] + 1) last[1] = Math.max(last[1], b);
      else merged.push([a, b]);
    }
    return merged;
  }

  /**
   * The per-topic counts: read where readable (one lookup per topic when a scan fails), else
   * from the copied rows (unique_count is then the events still stored, duplicates 0); `stored`
   * and, where unknown, the last offset always from the copied rows.
   */
  private copyTopics(): Map<string, TopicRow> {
    const columns = 'topic, unique_count, duplicates, last_offset, last_processed_at';
    const read = new Map<string, TopicRow>();
    const all = readable(() =>
      this.src.prepare<[], TopicRow>(`SELECT ${columns} FROM topics ORDER BY topic`).all(),
    );
    if (all === null) {
      this.rebuilt.push('topics');
      const one = this.src.prepare<[string], TopicRow>(
        `SELECT ${columns} FROM topics WHERE topic = ?`,
      );
      for (const topic of this.tallies.keys()) {
        const row = readable(() => one.get(topic));
        if (row !== null && row !== undefined) read.set(topic, row);
      }
    } else for (const row of all) read.set(row.topic, row);
    for (const [topic, t] of this.tallies) {
      if (!read.has(topic)) {
        read.set(topic, {
          topic,
          unique_count: t.stored,
          duplicates: 0,
          last_offset: t.lastOffset,
          last_processed_at: t.lastProcessedAt,
        });
      }
    }
    const insert = this.out.prepare(
      `INSERT INTO topics (topic, unique_count, duplicates, stored, last_offset, last_processed_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    for (const row of read.values()) {
      insert.run(
        row.topic,
        row.unique_count,
        row.duplicates,
        this.tallies.get(row.topic)?.stored ?? 0,
        row.last_offset,
        row.last_processed_at,
      );
    }
    return read;
  }
}

/**
 * The counters that go with rebuilt applied positions holding `applied` deliveries. Every
 * delivery applied is counted once, as unique or duplicate, so the two must sum to `applied`:
 * the deliveries left out are counted again when the consumer applies them after the
 * restart. Each of an event lost here (as far as the `lost` go) is stored again, so it is
 * taken off unique; the others count a duplicate again. Unique never goes below `stored`
 * (unique_processed = stored + expired): what cannot be settled is `offBy`, reported, and the
 * stats invariant stays off by it.
 */
export function settleCounts(c: {
  unique: number;
  duplicates: number;
  applied: number;
  lost: number;
  stored: number;
}): { unique: number; duplicates: number; offBy: number } {
  const gap = c.unique + c.duplicates - c.applied;
  const again = Math.max(0, Math.min(gap, c.lost));
  const fromDuplicates = Math.max(0, Math.min(c.duplicates, gap - again));
  const fromUnique = Math.max(
    0,
    Math.min(c.unique - c.stored - again, gap - again - fromDuplicates),
  );
  return {
    unique: c.unique - again - fromUnique,
    duplicates: c.duplicates - fromDuplicates,
    offBy: gap - again - fromDuplicates - fromUnique,
  };
}

/** How many integers the inclusive `runs` hold. */
function count(runs: readonly (readonly [number, number])[]): number {
  return runs.reduce((n, [a, b]) => n + b - a + 1, 0);
}

/** The integers of [lo, hi] outside the ascending, disjoint `runs`, as ranges. */
export function complement(
  runs: readonly (readonly [number, number])[],
  lo: number,
  hi: number,
): [number, number][] {
  const out: [number, number][] = [];
  let next = lo;
  for (const [a, b] of runs) {
    if (b < next) continue;
    if (a > hi) break;
    if (a > next) out.push([next, Math.min(a - 1, hi)]);
    next = b + 1;
  }
  if (next <= hi) out.push([next, hi]);
  return out;
}
