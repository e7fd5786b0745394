/**
 * better-sqlite3 objects that must never be garbage collected.
 *
 * On Node 24, better-sqlite3 12's Database and Statement objects remove an environment
 * cleanup hook in their C++ destructor, and a garbage collection that finalises one outside a
 * JavaScript context aborts the whole process ("Assertion failed: (env) != nullptr" in
 * node::RemoveEnvironmentCleanupHook; fixed upstream in better-sqlite3 13, which needs Node
 * 22). Measured here: a run of the suite on Node 24 lost processes that way in the store's
 * in-process tests and in servers under load until every such object stayed referenced.
 * Objects kept here live until the process (or the worker thread) ends, when the cleanup
 * hooks free them safely. They are few: one connection per store plus its prepared
 * statements; a closed connection holds no SQLite memory.
 */
const kept: unknown[] = [];

/** Keeps `value` referenced for the life of this thread; returns it. */
export function keepForever<T>(value: T): T {
  kept.push(value);
  return value;
}
