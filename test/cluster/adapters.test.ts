/**
 * openClusterAdapters from a Config, and the job only the pair can do: pruning the store's
 * applied delivery ids below the queue's floor while keeping every id that can still come
 * back (a batch committed whose XACK was lost stays recognised).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { deliveryPruner, openClusterAdapters } from '../../src/adapters/cluster.js';
import type { PostgresStore } from '../../src/adapters/postgres/store.js';
import type { RedisQueue } from '../../src/adapters/redis/queue.js';
import { loadConfig } from '../../src/config.js';
import { event } from '../contract/queue.contract.js';
import {
  DATABASE_URL,
  REDIS_URL,
  clusterServicesSkipReason,
  dropPostgresSchema,
  dropRedisNamespace,
  randomNamespace,
} from './services.js';

const skip = await clusterServicesSkipReason();

void describe('cluster adapters together', { skip: skip ?? false }, () => {
  void it('pruning keeps the ids of committed but unacked deliveries and forgets acked ones', async () => {
    const namespace = randomNamespace();
    const config = loadConfig([], {
      QUEUE: 'redis',
      STORE: 'postgres',
      REDIS_URL,
      DATABASE_URL,
      NAMESPACE: namespace,
      CONSUMER_NAME: 'prune-test',
    });
    const log = pino({ level: 'silent' });
    const { queue, store } = await openClusterAdapters(config, log);
    try {
      await queue.enqueue(Array.from({ length: 10 }, () => event()));
      const acked = await queue.take(6, AbortSignal.timeout(3_000));
      assert.ok(acked !== null && acked.deliveries.length === 6);
      await store.apply(acked.deliveries, new Date());
      await queue.ack(acked);
      const unacked = await queue.take(4, AbortSignal.timeout(3_000));
      assert.ok(unacked !== null && unacked.deliveries.length === 4);
      await store.apply(unacked.deliveries, new Date()); // committed; XACK "lost"

      const prune = deliveryPruner(queue as RedisQueue, store as PostgresStore, log);
      assert.equal(await prune(), 0, 'the first run only notes the floor');
      assert.equal(await prune(), 6, 'the next run prunes below the floor the first one saw');
      const again = await store.apply(unacked.deliveries, new Date());
      assert.deepEqual(
        again.items.map((i) => i.status),
        ['redelivered', 'redelivered', 'redelivered', 'redelivered'],
      );
      await queue.ack(unacked);
      const [q, c] = await Promise.all([queue.stats(), store.counters()]);
      assert.equal(q.received, c.unique_processed + c.duplicate_dropped + q.depth);
    } finally {
      await queue.close();
      await store.close();
      await dropRedisNamespace(REDIS_URL, namespace);
      await dropPostgresSchema(DATABASE_URL, namespace);
    }
  });
});
