/**
 * The cluster adapters (Redis Streams queue, PostgreSQL store) against the shared contract
 * suites, on the real services. Each opener uses its own random namespace and drops it.
 */
import { describe, it } from 'node:test';
import { openPostgresStore } from '../../src/adapters/postgres/store.js';
import { openRedisQueue } from '../../src/adapters/redis/queue.js';
import type { Queue } from '../../src/ports/queue.js';
import {
  DATABASE_URL,
  REDIS_URL,
  clusterServicesSkipReason,
  dropPostgresSchema,
  dropRedisNamespace,
  randomNamespace,
} from '../cluster/services.js';
import { runQueueContract } from './queue.contract.js';
import { runRetentionContract } from './retention.contract.js';
import { runStoreContract, streamIds, type StoreOpener } from './store.contract.js';

const PARTITION_SPAN = 10;

const skip = await clusterServicesSkipReason();

if (skip !== null) {
  void describe('cluster adapters (Redis, PostgreSQL)', () => {
    void it('contract suites', { skip }, () => undefined);
  });
} else {
  runQueueContract('redis streams', async ({ queueMax }) => {
    const namespace = randomNamespace();
    const open = (): ReturnType<typeof openRedisQueue> =>
      openRedisQueue({
        url: REDIS_URL,
        namespace,
        consumerName: 'contract',
        claimIdleMs: 60_000,
        queueMax,
      });
    const opened: Queue[] = [await open()];
    return {
      queue: opened[0] as Queue,
      reopen: async () => {
        const q = await open();
        opened.push(q);
        return q;
      },
      cleanup: async () => {
        for (const q of opened) await q.close();
        await dropRedisNamespace(REDIS_URL, namespace);
      },
    };
  });

  // Tiny partitions (10 offsets), so that retention drops whole partitions within a test.
  const openPostgres: StoreOpener = async (opts = {}) => {
    const namespace = randomNamespace();
    const store = await openPostgresStore({
      url: DATABASE_URL,
      namespace,
      poolMax: 10,
      consumerName: 'contract',
      partitionSpan: PARTITION_SPAN,
      ...(opts.retention ? { retention: opts.retention } : {}),
    });
    return {
      store,
      nextDeliveryId: streamIds,
      granularity: PARTITION_SPAN,
      cleanup: async () => {
        await store.close();
        await dropPostgresSchema(DATABASE_URL, namespace);
      },
    };
  };
  runStoreContract('postgres', openPostgres);
  runRetentionContract('postgres', openPostgres);
}
