/**
 * The two cluster adapters together: openClusterAdapters from a Config; pruning the store's
 * applied delivery ids below the queue's floor while keeping every id that can still come
 * back; and, with the real consumer loop, an instance dying between COMMIT and XACK.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { deliveryPruner, openClusterAdapters } from '../../src/adapters/cluster.js';
import { openPostgresStore, type PostgresStore } from '../../src/adapters/postgres/store.js';
import { openRedisQueue, type RedisQueue } from '../../src/adapters/redis/queue.js';
import { startWorkers } from '../../src/consumer/worker.js';
import type { QueueReader } from '../../src/ports/queue.js';
import { loadConfig } from '../../src/config.js';
import { event } from '../contract/queue.contract.js';
import {
  DATABASE_URL,
  REDIS_URL,
  clusterServicesSkipReason,
  dropPostgresSchema,
  dropRedisNamespace,
  randomNamespace,
  sleep,
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
      assert.equal(await prune(), 6, 'the acked ids are pruned, the unacked ones kept');
      assert.equal(await prune(), 0);
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

  void it('a paused instance that wakes after another took over, stored and acked its entries, and after the pruner ran twice: its stale copies are redelivered, counted once', async () => {
    const namespace = randomNamespace();
    const log = pino({ level: 'silent' });
    const open = (consumerName: string) =>
      Promise.all([
        openRedisQueue({
          url: REDIS_URL,
          namespace,
          consumerName,
          claimIdleMs: 200,
          queueMax: 10_000,
        }),
        openPostgresStore({ url: DATABASE_URL, namespace, poolMax: 2, consumerName }),
      ]);
    const [qa, sa] = await open('a');
    const [qb, sb] = await open('b');
    try {
      await qa.enqueue(Array.from({ length: 20 }, (_, i) => event({ event_id: `p-${i}` })));
      // Instance a reads the entries, then stalls (SIGSTOP, VM pause, long GC) holding them.
      const stale = await qa.take(20, AbortSignal.timeout(3_000));
      assert.ok(stale !== null && stale.deliveries.length === 20);
      // Instance b takes them over once they are idle, stores and acks them.
      let taken = 0;
      while (taken < 20) {
        const lease = await qb.take(20, AbortSignal.timeout(5_000));
        assert.ok(lease !== null, 'instance b claims the idle entries');
        await sb.apply(lease.deliveries, new Date());
        await qb.ack(lease);
        taken += lease.deliveries.length;
      }
      // Two prune periods pass while a is still stopped.
      const prune = deliveryPruner(qb, sb, log);
      await prune();
      await prune();
      // a wakes up and applies what it read before the pause.
      const late = await sa.apply(stale.deliveries, new Date());
      assert.deepEqual(
        late.items.map((i) => i.status),
        Array.from({ length: 20 }, () => 'redelivered'),
      );
      await qa.ack(stale);
      const [q, c] = await Promise.all([qb.stats(), sb.counters()]);
      assert.deepEqual(q, { received: 20, depth: 0 });
      assert.deepEqual(
        { unique_processed: c.unique_processed, duplicate_dropped: c.duplicate_dropped },
        { unique_processed: 20, duplicate_dropped: 0 },
      );
    } finally {
      await Promise.all([qa.close(), qb.close(), sa.close(), sb.close()]);
      await dropRedisNamespace(REDIS_URL, namespace);
      await dropPostgresSchema(DATABASE_URL, namespace);
    }
  });

  void it('an instance that dies between the store COMMIT and the XACK: its batch is taken over and answered redelivered, counted once', async () => {
    const namespace = randomNamespace();
    const log = pino({ level: 'silent' });
    const open = (consumerName: string) =>
      Promise.all([
        openRedisQueue({
          url: REDIS_URL,
          namespace,
          consumerName,
          claimIdleMs: 300,
          queueMax: 10_000,
        }),
        openPostgresStore({ url: DATABASE_URL, namespace, poolMax: 2, consumerName }),
      ]);
    const [qa, sa] = await open('a');
    const [qb, sb] = await open('b');
    try {
      const sent = Array.from({ length: 40 }, (_, i) => event({ event_id: `k-${i % 30}` }));
      await qa.enqueue(sent);
      // Instance a: commits its first batch, then "dies" instead of acking.
      let committed: readonly string[] = [];
      const dying: QueueReader = {
        take: (max, signal) => qa.take(max, signal),
        release: (l) => qa.release(l),
        ack: async (l) => {
          committed = l.deliveries.map((d) => d.id);
          await qa.close();
          throw new Error('killed before XACK');
        },
      };
      const a = startWorkers({ queue: dying, store: sa, log, count: 1, batchMax: 25 });
      while (committed.length === 0) await sleep(20);
      a.abort();
      await a.done;
      assert.equal(committed.length, 25);

      const redelivered: string[] = [];
      const b = startWorkers({
        queue: qb,
        store: sb,
        log,
        count: 2,
        batchMax: 25,
        onApplied: (r) => {
          for (const i of r.items) if (i.status === 'redelivered') redelivered.push(i.delivery);
        },
      });
      for (let i = 0; i < 100 && (await qb.stats()).depth > 0; i++) await sleep(50);
      b.abort();
      await b.done;
      assert.deepEqual([...redelivered].sort(), [...committed].sort());
      const [q, c] = await Promise.all([qb.stats(), sb.counters()]);
      assert.deepEqual(q, { received: 40, depth: 0 });
      assert.deepEqual(
        { unique_processed: c.unique_processed, duplicate_dropped: c.duplicate_dropped },
        { unique_processed: 30, duplicate_dropped: 10 },
      );
    } finally {
      await Promise.all([qa.close(), qb.close(), sa.close(), sb.close()]);
      await dropRedisNamespace(REDIS_URL, namespace);
      await dropPostgresSchema(DATABASE_URL, namespace);
    }
  });
});
