/**
 * The cluster adapters driven by the real consumer loop (src/consumer/worker.ts) while
 * PostgreSQL, then Redis, goes away mid-load and comes back: calls fail fast instead of
 * hanging, nothing accepted is lost, nothing is counted twice, and the stats invariant holds
 * once idle. The service that is stopped is always a private one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { openPostgresStore, type PostgresStore } from '../../src/adapters/postgres/store.js';
import { openRedisQueue, type RedisQueue } from '../../src/adapters/redis/queue.js';
import { startWorkers } from '../../src/consumer/worker.js';
import { AppError } from '../../src/domain/errors.js';
import type { AcceptedEvent } from '../../src/domain/event.js';
import {
  DATABASE_URL,
  REDIS_URL,
  clusterServicesSkipReason,
  dropPostgresSchema,
  dropRedisNamespace,
  privatePostgres,
  privateRedis,
  randomNamespace,
  sleep,
} from './services.js';

const skip = await clusterServicesSkipReason();
const log = pino({ level: 'silent' });

/** 30 % of the events re-use an earlier key (with another payload). */
function workload(batches: number, size: number): AcceptedEvent[][] {
  const out: AcceptedEvent[][] = [];
  let n = 0;
  for (let b = 0; b < batches; b++) {
    const batch: AcceptedEvent[] = [];
    for (let i = 0; i < size; i++) {
      n++;
      const dup = n > 10 && n % 10 < 3;
      const key = dup ? n - 7 : n;
      batch.push({
        topic: key % 2 === 0 ? 'login' : 'order',
        event_id: `k-${key}`,
        timestamp: '2025-10-24T00:00:00.000Z',
        source: 'outage-test',
        payload: `{"n":${n}}`,
      });
    }
    out.push(batch);
  }
  return out;
}

const distinctKeys = (batches: AcceptedEvent[][]): number =>
  new Set(batches.flat().map((e) => `${e.topic}/${e.event_id}`)).size;

/** Publishes every batch, retrying on 503 as a publisher would. Returns attempts rejected. */
async function publish(
  queue: RedisQueue,
  batches: AcceptedEvent[][],
  gapMs: number,
): Promise<number> {
  let rejected = 0;
  for (const batch of batches) {
    for (;;) {
      try {
        await queue.enqueue(batch);
        break;
      } catch (err) {
        // 503: nothing of it was queued. 504: Redis may have run it; resending is safe.
        assert.ok(
          err instanceof AppError && (err.code === 'unavailable' || err.code === 'outcome_unknown'),
          String(err),
        );
        rejected++;
        await sleep(100);
      }
    }
    await sleep(gapMs);
  }
  return rejected;
}

async function drained(queue: RedisQueue, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const s = await queue.stats().catch(() => null);
    if (s !== null && s.depth === 0) return;
    await sleep(100);
  }
  throw new Error('queue did not drain');
}

async function assertExact(
  queue: RedisQueue,
  store: PostgresStore,
  batches: AcceptedEvent[][],
): Promise<void> {
  const [q, c] = await Promise.all([queue.stats(), store.counters()]);
  const keys = distinctKeys(batches);
  assert.equal(q.depth, 0);
  assert.equal(c.unique_processed, keys, 'every key stored exactly once');
  assert.equal(q.received, c.unique_processed + c.duplicate_dropped, 'received = unique + dups');
  assert.ok(q.received >= batches.flat().length);
  const rows = await store.list({ after: 0, limit: 10_000, order: 'asc' });
  assert.equal(rows.length, keys);
  assert.equal(new Set(rows.map((r) => `${r.topic}/${r.event_id}`)).size, keys);
}

interface Pipeline {
  readonly queue: RedisQueue;
  readonly store: PostgresStore;
  /** Stops the workers, then closes the queue and the store. */
  stop(): Promise<void>;
}

/** A Redis queue, a PostgreSQL store and two real consumer workers between them. */
async function startPipeline(opts: {
  redisUrl: string;
  databaseUrl: string;
  namespace: string;
  claimIdleMs: number;
  store?: { statementTimeoutMs: number; connectTimeoutMs: number };
}): Promise<Pipeline> {
  const queue = await openRedisQueue({
    url: opts.redisUrl,
    namespace: opts.namespace,
    consumerName: 'w',
    claimIdleMs: opts.claimIdleMs,
    queueMax: 100_000,
  });
  const store = await openPostgresStore({
    url: opts.databaseUrl,
    namespace: opts.namespace,
    poolMax: 4,
    consumerName: 'w',
    ...opts.store,
  });
  const workers = startWorkers({ queue, store, log, count: 2, batchMax: 200 });
  return {
    queue,
    store,
    async stop() {
      workers.abort();
      await workers.done;
      await queue.close();
      await store.close();
    },
  };
}

void describe('cluster outages under load', { skip: skip ?? false }, () => {
  void it('PostgreSQL crash mid-load: reads fail fast, events wait in Redis, all applied once after it returns', async () => {
    const pg = await privatePostgres();
    const ns = randomNamespace();
    const pipeline = await startPipeline({
      redisUrl: REDIS_URL,
      databaseUrl: pg.url,
      namespace: ns,
      claimIdleMs: 5_000,
      store: { statementTimeoutMs: 2_000, connectTimeoutMs: 1_000 },
    });
    const { queue, store } = pipeline;
    try {
      const batches = workload(60, 50);
      const publishing = publish(queue, batches, 20);
      await sleep(300);
      await pg.stop('immediate');
      let started = Date.now();
      assert.equal(await store.ready(), false);
      const readyMs = Date.now() - started;
      started = Date.now();
      await assert.rejects(store.list({ after: 0, limit: 10, order: 'asc' }), {
        code: 'unavailable',
      });
      const listMs = Date.now() - started;
      assert.ok(readyMs <= 1_500 && listMs <= 1_500, `ready ${readyMs} ms, list ${listMs} ms`);
      await sleep(1_500);
      const during = await queue.stats();
      assert.ok(during.depth > 0, 'events wait in the queue while the store is down');
      await pg.start();
      assert.equal(await publishing, 0, 'Redis kept accepting while only PostgreSQL was down');
      await drained(queue, 20_000);
      console.log(`postgres outage: ready() false in ${readyMs} ms, list failed in ${listMs} ms`);
      await assertExact(queue, store, batches);
    } finally {
      await pipeline.stop();
      await dropRedisNamespace(REDIS_URL, ns);
      await pg.destroy();
    }
  });

  void it('Redis crash mid-load: enqueue answers 503 fast, workers back off, nothing lost or double counted', async () => {
    const redis = await privateRedis();
    const ns = randomNamespace();
    const pipeline = await startPipeline({
      redisUrl: redis.url,
      databaseUrl: DATABASE_URL,
      namespace: ns,
      claimIdleMs: 2_000,
    });
    const { queue, store } = pipeline;
    try {
      const batches = workload(60, 50);
      const publishing = publish(queue, batches, 20);
      await sleep(300);
      await redis.stop('SIGKILL');
      const started = Date.now();
      // 503 once the client has seen the connection go; 504 if the script was written to the
      // dying socket first. Either way fast, and resending is safe.
      await assert.rejects(
        queue.enqueue(batches[0] ?? []),
        (err: unknown) =>
          err instanceof AppError && (err.code === 'unavailable' || err.code === 'outcome_unknown'),
      );
      const failMs = Date.now() - started;
      assert.ok(failMs <= 2_000, `enqueue failed after ${failMs} ms`);
      await sleep(1_500);
      await redis.start();
      const rejected = await publishing;
      assert.ok(rejected > 0, 'some publishes were refused while Redis was down');
      await drained(queue, 20_000);
      // Let the workers finish the last batch's ack before reading the counters.
      await sleep(200);
      console.log(`redis outage: enqueue failed in ${failMs} ms; ${rejected} publishes retried`);
      await assertExact(queue, store, batches);
    } finally {
      await pipeline.stop();
      await dropPostgresSchema(DATABASE_URL, ns);
      await redis.destroy();
    }
  });

  // Found by an outside probe: a hung Redis (SIGSTOP) ran an ENQUEUE the command timeout had
  // already answered with 503, which SPEC says means "nothing of that request is ever stored".
  void it('a hung Redis: enqueue answers outcome_unknown (504), never 503, once the script was sent', async () => {
    const redis = await privateRedis();
    const ns = randomNamespace();
    const queue = await openRedisQueue({
      url: redis.url,
      namespace: ns,
      consumerName: 'hung',
      claimIdleMs: 2_000,
      queueMax: 100_000,
      commandTimeoutMs: 300,
    });
    try {
      const [warm = [], batch = []] = workload(2, 5);
      // Loads the ENQUEUE script: a hung Redis then has a script to run when it wakes.
      await queue.enqueue(warm);
      process.kill(redis.pid(), 'SIGSTOP');
      let err: unknown = null;
      try {
        await queue.enqueue(batch);
      } catch (e) {
        err = e;
      } finally {
        process.kill(redis.pid(), 'SIGCONT');
      }
      assert.ok(err instanceof AppError, String(err));
      assert.equal(err.code, 'outcome_unknown');
      assert.equal(err.status, 504);
      assert.ok(err.retryAfter !== undefined && err.retryAfter > 0);
      // Redis ran it after all: exactly what 504 allows, and what 503 must never hide.
      let received = 0;
      for (let i = 0; i < 50 && received <= warm.length; i++) {
        received = (await queue.stats().catch(() => ({ received: 0 }))).received;
        if (received <= warm.length) await sleep(100);
      }
      assert.equal(received, warm.length + batch.length);
      // A Redis that refuses connections is still a plain 503: nothing was sent.
      await redis.stop('SIGKILL');
      for (let i = 0; i < 50 && (await queue.ready()); i++) await sleep(20);
      await assert.rejects(queue.enqueue(batch), { code: 'unavailable' });
    } finally {
      await queue.close().catch(() => undefined);
      await redis.destroy();
    }
  });
});
