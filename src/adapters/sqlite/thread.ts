/**
 * The SQLite store thread: owns the writing connection so that batch transactions never
 * block the HTTP event loop. Serves requests one at a time, in arrival order. Reads run on
 * reader threads (reader-thread.ts) so a burst of heavy pages never delays an apply.
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  unpackDeliveries,
  type Envelope,
  type ExpiredPacked,
  type Hello,
  type PackedApply,
  type Reply,
  type Request,
  type StartupFailure,
  type ThreadData,
} from './protocol.js';
import { openSqliteStore, type SqliteStore } from './store.js';

const port = parentPort;
if (port === null) throw new Error('thread.ts must run as a worker thread');

let store: SqliteStore;
try {
  const data = workerData as ThreadData;
  store = openSqliteStore({
    file: data.file,
    retention: data.retention,
    ...(data.killDuringExpiry
      ? {
          duringExpiry: () => {
            process.stderr.write('fault injection: SIGKILL inside an expiry step\n');
            process.kill(process.pid, 'SIGKILL');
          },
        }
      : {}),
  });
  const hello: Hello = {
    hello: true,
    counters: store.countersNow(),
    applied: store.appliedRanges(),
    topics: store.topicNames(),
  };
  port.postMessage(hello);
} catch (err) {
  const failure: StartupFailure = { failed: true, message: (err as Error).message };
  port.postMessage(failure);
  process.exit(1);
}

async function handle(request: Request): Promise<unknown> {
  switch (request.op) {
    case 'apply': {
      const result = store.applySync(unpackDeliveries(request.columns), new Date(request.at));
      const n = result.items.length;
      const packed: PackedApply = {
        stored: result.stored,
        duplicates: result.duplicates,
        bytes: result.bytes,
        status: new Uint8Array(n),
        offsets: new Float64Array(n),
      };
      for (let i = 0; i < n; i++) {
        const item = result.items[i];
        if (item === undefined) continue;
        packed.status[i] = item.status === 'stored' ? 0 : item.status === 'duplicate' ? 1 : 2;
        packed.offsets[i] = item.offset ?? 0;
      }
      return packed;
    }
    case 'expire': {
      const step = store.expireSync(new Date(request.now));
      const packed: ExpiredPacked = {
        expired: step.expired,
        keysForgotten: step.keysForgotten,
        more: step.more,
        bytes: step.bytes,
      };
      return packed;
    }
    case 'checkpoint':
      store.checkpoint();
      return undefined;
    case 'held':
      return store.heldOffset(request.topic, request.eventId) ?? 0;
    case 'close':
      await store.close();
      return undefined;
  }
}

port.on('message', (envelope: Envelope) => {
  handle(envelope.request).then(
    (result) => {
      const reply: Reply = { id: envelope.id, ok: true, result };
      const transfer =
        envelope.request.op === 'apply'
          ? [
              (result as PackedApply).status.buffer as ArrayBuffer,
              (result as PackedApply).offsets.buffer as ArrayBuffer,
            ]
          : [];
      port.postMessage(reply, transfer);
      if (envelope.request.op === 'close') port.close();
    },
    (err: unknown) => {
      const e = err as { message?: string; code?: string };
      const reply: Reply = {
        id: envelope.id,
        ok: false,
        error: { message: e.message ?? String(err), ...(e.code ? { code: e.code } : {}) },
      };
      port.postMessage(reply);
    },
  );
});
