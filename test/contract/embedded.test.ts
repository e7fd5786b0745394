/**
 * The embedded adapters against the shared contract suites: the log queue, the SQLite store
 * in-process, and the same store behind its thread.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { openLogQueue } from '../../src/adapters/log/queue.js';
import { openSqliteStore } from '../../src/adapters/sqlite/store.js';
import { openThreadedSqliteStore } from '../../src/adapters/sqlite/threaded-store.js';
import type { Lease, Queue } from '../../src/ports/queue.js';
import { runQueueContract } from './queue.contract.js';
import { runRetentionContract } from './retention.contract.js';
import { runStoreContract, sequenceIds, type StoreOpener } from './store.contract.js';

const log = pino({ level: 'silent' });

/**
 * In embedded mode the store records which sequence numbers it applied; the log queue reads
 * that at recovery. Here a set stands in for the store: an ack adds the lease's ids to it.
 */
async function openQueueWithAckRecord(
  dir: string,
  queueMax: number,
  acked: Set<number>,
): Promise<Queue> {
  const queue = await openLogQueue({ dir, queueMax, log, isApplied: (seq) => acked.has(seq) });
  return new Proxy(queue, {
    get(target, prop, receiver) {
      if (prop === 'ack') {
        return async (lease: Lease) => {
          for (const d of lease.deliveries) acked.add(Number(d.id));
          await target.ack(lease);
        };
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function'
        ? (value as (...a: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}

runQueueContract('embedded log', async ({ queueMax }) => {
  const dir = await mkdtemp(join(tmpdir(), 'logsieve-queue-'));
  const acked = new Set<number>();
  const opened = [await openQueueWithAckRecord(dir, queueMax, acked)];
  return {
    queue: opened[0] as Queue,
    reopen: async () => {
      const q = await openQueueWithAckRecord(dir, queueMax, acked);
      opened.push(q);
      return q;
    },
    cleanup: async () => {
      for (const q of opened) await q.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
});

const openSqlite: StoreOpener = async (opts = {}) => {
  const dir = await mkdtemp(join(tmpdir(), 'logsieve-store-'));
  const store = openSqliteStore({
    file: join(dir, 'events.db'),
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
runRetentionContract('sqlite', openSqlite);
runRetentionContract('sqlite on its thread', openThreaded);
