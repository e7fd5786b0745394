/**
 * The embedded adapters against the shared contract suites: the log queue, the SQLite store
 * in-process (with its default buckets and with buckets of 7 rows), and the same store behind
 * its thread.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { openLogQueue } from '../../src/adapters/log/queue.js';
import { openSqliteStore, type SqliteStore } from '../../src/adapters/sqlite/store.js';
import { openThreadedSqliteStore } from '../../src/adapters/sqlite/threaded-store.js';
import type { Lease, Queue } from '../../src/ports/queue.js';
import { runQueueContract } from './queue.contract.js';
import { runRetentionContract } from './retention.contract.js';
import { runStoreContract, sequenceIds, type StoreOpener } from './store.contract.js';

const log = pino({ level: 'silent' });

/**
 * In embedded mode the store is the record of what was applied: the queue log replays, at
 * start, every delivery the store has not applied. So the queue runs here on a real SQLite
 * store, and an ack does what the consumer does in that mode: apply the lease in the store,
 * then ack it in the queue. Every other call goes to the queue log as it is.
 */
async function openQueueOnStore(dir: string, queueMax: number, store: SqliteStore): Promise<Queue> {
  const queue = await openLogQueue({
    dir,
    queueMax,
    log,
    isApplied: (seq) => store.isApplied(seq),
    minNextSeq: store.maxAppliedSeq() + 1,
  });
  return {
    positions: queue.positions,
    enqueue: (events) => queue.enqueue(events),
    stats: () => queue.stats(),
    ready: () => queue.ready(),
    take: (max, signal) => queue.take(max, signal),
    ack: async (lease: Lease) => {
      await store.apply(lease.deliveries, new Date());
      await queue.ack(lease);
    },
    release: (lease) => queue.release(lease),
    stopIntake: () => queue.stopIntake(),
    close: () => queue.close(),
  };
}

runQueueContract('embedded log', async ({ queueMax }) => {
  const dir = await mkdtemp(join(tmpdir(), 'logsieve-queue-'));
  const store = openSqliteStore({ file: join(dir, 'events.db') });
  const queueDir = join(dir, 'queue');
  const opened = [await openQueueOnStore(queueDir, queueMax, store)];
  return {
    queue: opened[0] as Queue,
    reopen: async () => {
      const q = await openQueueOnStore(queueDir, queueMax, store);
      opened.push(q);
      return q;
    },
    cleanup: async () => {
      for (const q of opened) await q.close().catch(() => undefined);
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

/**
 * The SQLite store on the calling thread; with `bucketRows` (buckets.ts) small, so every
 * suite's pages, cursors, gets and expiry steps cross bucket boundaries, and expiry drops
 * whole buckets as it goes.
 */
const sqliteOpener =
  (bucketRows?: number): StoreOpener =>
  async (opts = {}) => {
    const dir = await mkdtemp(join(tmpdir(), 'logsieve-store-'));
    const store = openSqliteStore({
      file: join(dir, 'events.db'),
      ...(bucketRows !== undefined ? { bucketRows } : {}),
      ...(opts.retention ? { retention: opts.retention } : {}),
    });
    return {
      store,
      nextDeliveryId: sequenceIds,
      granularity: 1,
      cleanup: async () => {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  };
const openSqlite = sqliteOpener();
/** Buckets of 7 rows. */
const openSqliteSmallBuckets = sqliteOpener(7);

const openThreaded: StoreOpener = async (opts = {}) => {
  const dir = await mkdtemp(join(tmpdir(), 'logsieve-store-'));
  const store = await openThreadedSqliteStore(
    join(dir, 'events.db'),
    opts.retention ? { retention: opts.retention } : {},
  );
  return {
    store,
    nextDeliveryId: sequenceIds,
    granularity: 1,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
};

runStoreContract('sqlite', openSqlite);
runStoreContract('sqlite on its thread', openThreaded);
runStoreContract('sqlite, buckets of 7 rows', openSqliteSmallBuckets);
runRetentionContract('sqlite', openSqlite);
runRetentionContract('sqlite, buckets of 7 rows', openSqliteSmallBuckets);
runRetentionContract('sqlite on its thread', openThreaded);
