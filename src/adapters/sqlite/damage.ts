/**
 * Damage to the embedded store's database (DATA_DIR/events.db) as SQLite finds it: a page
 * that does not parse as a B-tree page, a cell pointing outside its page, a header that is
 * not SQLite's (SQLITE_CORRUPT*, SQLITE_NOTADB). SPEC "Damage is never silent".
 *
 * States of a store: sound -> damaged, found in one of three places:
 * - at open (the pages start-up reads: schema, counters, applied positions, recent keys):
 *   start-up stops with one line naming the file and the page (`damagedStoreError`);
 * - by a read, a write or the check after start (`PRAGMA quick_check` on a reader thread,
 *   threaded-store.ts) while running: the failing request fails as it did, /healthz fails
 *   (`store: false`), one error line is logged, and the marker `<file>-damaged` is written
 *   with that line, so that the next start stops with it instead of looking healthy until a
 *   read reaches the page again.
 * A damaged store stays damaged: nothing here repairs or rewrites it. The marker is removed
 * by hand once the file has been restored or replaced (README, "Damage (embedded store)").
 *
 * What this does not find: a byte changed inside a row's text on a page that still parses
 * (a payload's digit, say) reads back as a valid, different row. SQLite keeps no checksum of
 * page contents; README "Departures" says so.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Database as DB } from 'better-sqlite3';
import Database from './driver.js';

/** True for the errors SQLite raises when the file itself is damaged. */
export function isDamageError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB')
  );
}

/** `<file>-damaged`: present while the store is known to be damaged. */
export function damageMarker(file: string): string {
  return `${file}-damaged`;
}

/**
 * The first finding of `PRAGMA quick_check` on `db` ("Page 361: btreeInitPage() returns
 * error code 11"), null when it finds none. It reads every page (0.55 s per million events on
 * this VM, page cache warm) and never writes; damage it cannot get past throws SQLITE_CORRUPT.
 */
export function quickCheck(db: DB): string | null {
  const rows = db.pragma('quick_check(1)') as { quick_check: string }[];
  // A finding may start with a line naming the schema ("*** in database main ***").
  const text = rows
    .map((r) => r.quick_check)
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
  const at = page === undefined ? '' : ` at page ${page}`;
  const detail = where !== null && where !== found ? `${found}; ${where}` : found;
  return (
    `store ${file} is damaged${at} (${detail}); nothing was changed. Restore it from a ` +
    `backup or move it away, then remove ${damageMarker(file)} if present (README, "Damage (embedded store)")`
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
