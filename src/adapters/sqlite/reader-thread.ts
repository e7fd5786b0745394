/**
 * A reader thread: a read-only connection to the store's database, serving reads one at a
 * time. WAL gives each read a consistent snapshot while the writer thread commits beside it,
 * so heavy pages never hold up applies (nor the HTTP event loop). A page is encoded here and
 * its bytes are transferred, not copied, to the main thread. The full check (damage.ts),
 * after start and every STORE_CHECK_INTERVAL, runs here in steps, the reads taking turns with
 * it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import type { Database as DB } from 'better-sqlite3';
import Database from './driver.js';
import type { ReadEnvelope, ReaderClose, ReadRequest, Reply, StartupFailure } from './protocol.js';
import { checkTable, storeTables } from './damage.js';
import { SqliteReads } from './reads.js';

const port = parentPort;
if (port === null) throw new Error('reader-thread.ts must run as a worker thread');

const file = (workerData as { file: string }).file;
let reads: SqliteReads;
let db: DB;
try {
  db = new Database(file, {
    readonly: true,
    fileMustExist: true,
    timeout: 1000,
  });
  db.exec('PRAGMA query_only = true');
  db.exec('PRAGMA cache_size = -16384');
  reads = new SqliteReads(db);
  port.postMessage({ hello: true });
} catch (err) {
  const failure: StartupFailure = { failed: true, message: (err as Error).message };
  port.postMessage(failure);
  process.exit(1);
}

/** The reads answered at once; a check is answered by `check`, in steps. */
function handle(request: Exclude<ReadRequest, { op: 'check' }>): unknown {
  switch (request.op) {
    case 'page':
      return reads.page(request.query, request.maxBytes, request.format);
    case 'list':
      return reads.list(request.query, request.maxBytes);
    case 'get':
      return reads.get(request.topic, request.eventId, request.held);
    case 'topics':
      return reads.topics(request.page);
    case 'topicCount':
      return reads.topicCount();
  }
}

/** Set by the close message: a running check stops at its next step. */
let closing = false;
/** The check in progress, which close waits for before closing the connection. */
let checking: Promise<void> | null = null;

/**
 * The check after start (damage.ts): each table with its indexes (integrity_check, one
 * native call per table), then with `rows` every event row's checksum, a step of 10,000 at a
 * time, each its own read transaction. Between tables and steps this thread's reads and a
 * close take their turn. Paced to a quarter of one core (each call or step, then three times
 * its length idle): unpaced, ~1.7 s per million events for the tables and ~2-3 s for the rows
 * would take half of a 2-core VM from the traffic for that long after every start.
 */
async function check(rows: boolean): Promise<string | null> {
  const paced = async (t0: number): Promise<void> => {
    await sleep(Math.min(3 * (performance.now() - t0), 1_000));
  };
  // A connection of its own, opened for this check: this thread's page cache may hold pages
  // as they were read long ago (nothing invalidates them while no write commits), and the
  // check must read what the file holds now. A small cache: the check reads every page once.
  const fresh = new Database(file, { readonly: true, fileMustExist: true, timeout: 1000 });
  try {
    fresh.exec('PRAGMA query_only = true');
    fresh.exec('PRAGMA cache_size = -2048');
    for (const table of storeTables(fresh)) {
      if (closing) return null;
      const t0 = performance.now();
      let finding: string | null;
      try {
        finding = checkTable(fresh, table);
      } catch (err) {
        // Expiry may drop a bucket between the list and its turn (paced, seconds apart).
        if (/^no such table/.test((err as Error).message)) continue;
        throw err;
      }
      if (finding !== null) return finding;
      await paced(t0);
    }
    if (!rows) return null;
    const steps = new SqliteReads(fresh).checkRows();
    while (!closing) {
      const t0 = performance.now();
      if (steps.next().done === true) break;
      await paced(t0);
    }
    return null;
  } finally {
    fresh.close();
  }
}

function failure(id: number, err: unknown): Reply {
  const e = err as { message?: string; code?: string };
  return {
    id,
    ok: false,
    error: { message: e.message ?? String(err), ...(e.code ? { code: e.code } : {}) },
  };
}

port.on('message', (envelope: ReadEnvelope | ReaderClose) => {
  if ('close' in envelope) {
    // Closed here, in this thread's own context, before the thread ends by itself.
    closing = true;
    void (checking ?? Promise.resolve()).then(() => {
      db.close();
      port.close();
    });
    return;
  }
  if (envelope.request.op === 'check') {
    const id = envelope.id;
    checking = check(envelope.request.rows).then(
      (result) => port.postMessage({ id, ok: true, result } satisfies Reply),
      (err: unknown) => port.postMessage(failure(id, err)),
    );
    return;
  }
  let reply: Reply;
  let transfer: ArrayBuffer[] = [];
  try {
    const result = handle(envelope.request);
    reply = { id: envelope.id, ok: true, result };
    if (envelope.request.op === 'page') {
      const body = (result as { body: Uint8Array }).body;
      // A Buffer may be a view into a shared pool; transfer only a buffer it owns alone.
      if (body.byteOffset === 0 && body.byteLength === body.buffer.byteLength) {
        transfer = [body.buffer as ArrayBuffer];
      }
    }
  } catch (err) {
    reply = failure(envelope.id, err);
  }
  port.postMessage(reply, transfer);
});
