/**
 * The SQLite driver: better-sqlite3 13 (Node-API) where the runtime has Node-API 10 (Node
 * 22.14+, 24), better-sqlite3 12 elsewhere (Node 20, 22.12-22.13). Same JavaScript API; the
 * choice is made once per thread, at import, from `process.versions.napi`.
 *
 * Why two. better-sqlite3 12 wraps its Database, Statement and StatementIterator in a raw
 * `node::ObjectWrap`, whose inline code comes from the Node headers it is compiled against.
 * From Node 24.19 those headers register an environment cleanup hook per object and remove
 * it in the destructor, and removing one needs an entered JavaScript context. A scavenge
 * started by an allocation in JIT-compiled code runs V8's first-pass weak callbacks with no
 * context entered, so a statement or iterator that dies young aborts the whole process
 * ("Assertion failed: (env) != nullptr" in node::RemoveEnvironmentCleanupHook; nodejs/node
 * issue 65446). Measured here on Node 24.21: 200,000 throwaway `prepare()` or `iterate()`
 * calls with other allocations between them aborted 10 of 10 runs with 12 compiled against
 * 24.21 headers, 0 of 10 with 12 compiled against 24.18.1 headers, 0 of 10 with 13. Every
 * paged read is an `iterate()`, so no amount of keeping statements referenced avoids it.
 * better-sqlite3 13 uses Node-API objects (no ObjectWrap) and ships its binaries inside the
 * npm package, but needs Node-API 10: on Node 20 its binary crashes on load (measured:
 * SIGSEGV). 12 stays for Node 20, built by its install script as before; Node 20's and 22's
 * headers have no per-object hook.
 *
 * `package.json` installs 13 under the alias `better-sqlite3-13`; the types of both come from
 * `@types/better-sqlite3` (13 adds options, removes none that logsieve uses).
 */
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

/** The package this thread loads: `better-sqlite3-13` or `better-sqlite3` (12). */
export const SQLITE_DRIVER: 'better-sqlite3-13' | 'better-sqlite3' =
  Number(process.versions.napi) >= 10 ? 'better-sqlite3-13' : 'better-sqlite3';

const Database = createRequire(import.meta.url)(SQLITE_DRIVER) as typeof BetterSqlite3;

export default Database;
