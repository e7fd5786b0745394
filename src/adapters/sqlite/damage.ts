/**
 * Damage to the embedded store's database (DATA_DIR/events.db): a page that does not parse
 * as a B-tree page, a cell pointing outside its page, a header that is not SQLite's
 * (SQLITE_CORRUPT*, SQLITE_NOTADB), or an event row that no longer matches its checksum
 * (ROW_DAMAGE). SPEC "Damage is never silent".
 *
 * States of a store: sound -> damaged, found in one of three places:
 * - at open (the pages start-up reads: schema, counters, applied positions, recent keys):
 *   start-up stops with one line naming the file and the page (`damagedStoreError`);
 * - by the full check, after start and every STORE_CHECK_INTERVAL (reader-thread.ts: `PRAGMA
 *   integrity_check` of each table with its indexes, then every event row's checksum, paced
 *   to a quarter of a core), or by a read
 *   or write while running: the failing request fails as it did, /healthz fails (`store:
 *   false`), one error line is logged, and the marker `<file>-damaged` is written with that
 *   line, so that the next start stops with it instead of looking healthy until a read
 *   reaches the damage again (threaded-store.ts).
 * A damaged store stays damaged: nothing here repairs or rewrites it. `logsieve recover`
 * (salvage.ts) replaces it by a copy of every intact record and removes the marker; after a
 * restore from a backup the marker is removed by hand (README, "Damage (embedded store)").
 *
 * SQLite keeps no checksum of page contents, so a byte changed inside a row's text on a page
 * that still parses (a payload's digit) would read back as a valid, different row: each event
 * row carries its own CRC-32 (`rowChecksum`, column `crc`), checked by every read (reads.ts)
 * and by the check after start. Rows stored before the column existed have none and are
 * not checked; nor are the rows of the other tables (dedup keys, counters, topics,
 * applied positions): a byte changed inside one of them on a page that still parses goes
 * unseen (README, Departures).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Database as DB } from 'better-sqlite3';
import Database from './driver.js';

/** The code of a row whose text no longer matches its checksum (`rowDamage`). */
export const ROW_DAMAGE = 'LOGSIEVE_CORRUPT_ROW';

/** True for the errors SQLite raises when the file itself is damaged, and for `ROW_DAMAGE`. */
export function isDamageError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB' || code === ROW_DAMAGE)
  );
}

/**
 * CRC-32 of an event row as stored (its `crc` column): every column, offset included, NUL
 * between them (no column holds a NUL: JSON text escapes it, and topics, ids, sources and
 * timestamps refuse control characters). It finds what SQLite's checks cannot: a byte
 * changed inside a row's text on a page that still parses (a payload's digit). The payload
 * is chained on, not concatenated: the largest column is never copied into a new string.
 */
export function rowChecksum(offset: number, e: ChecksummedEvent, processedAt: string): number {
  return crc32(
    e.payload,
    crc32(`${offset}\0${e.topic}\0${e.event_id}\0${e.timestamp}\0${e.source}\0${processedAt}\0`),
  );
}

/** The columns of an event row besides its offset and processed_at. */
export interface ChecksummedEvent {
  readonly topic: string;
  readonly event_id: string;
  readonly timestamp: string;
  readonly source: string;
  readonly payload: string;
}

/** The error a read fails with when a row does not match its checksum. */
export function rowDamage(table: string, offset: number): Error {
  return Object.assign(
    new Error(`the row at offset ${offset} of table ${table} does not match its checksum`),
    { code: ROW_DAMAGE },
  );
}

/** `<file>-damaged`: present while the store is known to be damaged. */
export function damageMarker(file: string): string {
  return `${file}-damaged`;
}

/**
 * The first finding of `PRAGMA quick_check` on `db` ("Page 361: btreeInitPage() returns
 * error code 11"), null when it finds none: every page's structure (about 5 ms per MB of
 * events.db on this VM, page cache warm), never index against table. Never writes; damage
 * it cannot get past throws SQLITE_CORRUPT.
 */
export function quickCheck(db: DB): string | null {
  return firstFinding(db.pragma('quick_check(1)') as Record<string, string>[]);
}

/** The store's tables, for `checkTable` one at a time. */
export function storeTables(db: DB): string[] {
  return db
    .prepare<[], string>(
      `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`,
    )
    .pluck()
    .all();
}

/**
 * `PRAGMA integrity_check` of one table and its indexes: unlike quick_check it also finds an
 * index that no longer matches its table ("row 14 missing from index events_by_topic"), which
 * would make filtered reads skip rows without an error. One table per call keeps each call
 * bounded (a bucket holds at most BUCKET_MAX_ROWS rows; the key store is the one large table).
 */
export function checkTable(db: DB, table: string): string | null {
  try {
    return integrityCheck(db, table);
  } catch (err) {
    // A page it cannot get past (a zeroed leaf) fails it outright; quick_check names it.
    if (!isDamageError(err)) throw err;
    return quickCheck(db) ?? (err as Error).message;
  }
}

/**
 * The first finding of `PRAGMA integrity_check` of one table and its indexes, or null; throws
 * SQLITE_CORRUPT where a page stops it (`checkTable` then looks for the page in the whole file).
 */
export function integrityCheck(db: DB, table: string): string | null {
  return firstFinding(db.pragma(`integrity_check(${table})`) as Record<string, string>[]);
}

function firstFinding(rows: readonly Record<string, string>[]): string | null {
  // A finding may start with a line naming the schema ("*** in database main ***").
  const text = rows
    .map((r) => Object.values(r)[0] ?? '')
    .join('\n')
    .replace(/^\*\*\* in database \S+ \*\*\*$/gm, '')
    .trim();
  return text === '' || text === 'ok' ? null : (text.split('\n')[0] ?? text);
}

/** Where in `file` SQLite finds damage, on a read-only connection of its own. */
export function locateDamage(file: string): string | null {
  let db: DB | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true, timeout: 1000 });
    return quickCheck(db);
  } catch (err) {
    // A header too damaged to open, or a check that cannot get past the first bad page.
    return (err as Error).message;
  } finally {
    db?.close();
  }
}

/** The one line that names the damage, for start-up, the log and the marker. */
export function damageLine(file: string, found: string, where: string | null): string {
  const page = /\bpage (\d+)/i.exec(where ?? found)?.[1];
  const offset = /\boffset (\d+)/.exec(found)?.[1];
  const at =
    page !== undefined ? ` at page ${page}` : offset !== undefined ? ` at offset ${offset}` : '';
  const detail = where !== null && where !== found ? `${found}; ${where}` : found;
  return (
    `store ${file} is damaged${at} (${detail}). Run "logsieve recover --data-dir ${dirname(file)}" ` +
    `to salvage every intact record, or restore it from a backup (README, "Damage (embedded store)")`
  );
}

/** The error start-up fails with when `err` is damage (else `err` itself). */
export function damagedStoreError(file: string, err: unknown): unknown {
  if (!isDamageError(err)) return err;
  return new Error(damageLine(file, (err as Error).message, locateDamage(file)), { cause: err });
}

/** The line a previous run recorded, or null. */
export function readMarker(file: string): string | null {
  const marker = damageMarker(file);
  if (!existsSync(marker)) return null;
  return readFileSync(marker, 'utf8').trim() || `store ${file} was found damaged (${marker})`;
}

/** Records `line`; a disk that cannot take it any more still has the log line and /healthz. */
export function writeMarker(file: string, line: string): void {
  try {
    writeFileSync(damageMarker(file), `${line}\n`, { flush: true });
  } catch {
    // Best effort, as said above.
  }
}
