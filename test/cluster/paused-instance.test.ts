/**
 * A real SIGSTOP of an aggregator instance under load (SPEC §4.12): the stopped instance
 * holds entries it read but has not applied; the other instance takes them over after
 * CLAIM_IDLE_MS, stores and acks them; the delivery ids are pruned (what the minutely pruner
 * of any instance does); then SIGCONT. The woken instance applies its stale copies, and none
 * of them may count a second time: once idle, received = unique + duplicates, and the
 * duplicates are exactly the re-sent copies.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import pino from 'pino';
import { deliveryPruner } from '../../src/adapters/cluster.js';
import { openPostgresStore } from '../../src/adapters/postgres/store.js';
import { GROUP, openRedisQueue } from '../../src/adapters/redis/queue.js';
import { keyOf } from '../helpers/events.js';
import { allEvents, stats, waitIdle } from '../helpers/http.js';
import { RecordingLoad } from '../helpers/load.js';
import { spawnServer } from '../helpers/server.js';
import { makeDataDir, removeDir, sleep } from '../helpers/tmp.js';
import {
  DATABASE_URL,
  REDIS_URL,
  clusterServicesSkipReason,
  dropPostgresSchema,
  dropRedisNamespace,
  randomNamespace,
} from './services.js';

const skip = await clusterServicesSkipReason();

/** Ids pending for `consumer` in the group that no committed apply has recorded yet. */
async function unappliedPending(
  redis: Redis,
  db: pg.Client,
  namespace: string,
  consumer: string,
): Promise<number> {
  const pending = (await redis.xpending(
    `{${namespace}}:stream`,
    GROUP,
    '-',
    '+',
    100_000,
    consumer,
  )) as [string, string, number, number][];
  if (pending.length === 0) return 0;
  const ids = pending.map((p) => p[0].split('-'));
  const r = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM unnest($1::bigint[], $2::bigint[]) AS u(ms, seq)
     WHERE NOT EXISTS (SELECT 1 FROM "${namespace}".applied_deliveries a
                       WHERE a.ms = u.ms AND a.seq = u.seq)`,
    [ids.map((i) => i[0]), ids.map((i) => i[1])],
  );
  return Number(r.rows[0]?.n ?? 0);
}

void describe('a paused aggregator instance', { skip: skip ?? false }, () => {
  void it('SIGSTOP past CLAIM_IDLE_MS and a prune, then SIGCONT: its stale copies never count twice', async () => {
    const namespace = randomNamespace();
    const dataDir = await makeDataDir('logsieve-paused');
    const common = {
      DATA_DIR: dataDir,
      QUEUE: 'redis',
      STORE: 'postgres',
      REDIS_URL,
      DATABASE_URL,
      NAMESPACE: namespace,
      CLAIM_IDLE_MS: '500',
    };
    // The instance to pause: four workers sharing one PostgreSQL connection, so at any
    // instant some of them hold a read batch in memory, waiting for the connection.
    const paused = await spawnServer({
      ...common,
      CONSUMER_NAME: 'paused',
      WORKERS: '4',
      PG_POOL_MAX: '1',
      BATCH_MAX: '50',
    });
    const other = await spawnServer({ ...common, CONSUMER_NAME: 'other' });
    const redis = new Redis(REDIS_URL);
    const db = new pg.Client({ connectionString: DATABASE_URL });
    await db.connect();
    const pid = paused.child.pid;
    assert.ok(pid !== undefined);
    // Outside the try: a failed assertion must stop the publisher too, or its loop keeps
    // this file's process (and the whole suite) running after the test has failed.
    let publishing = true;
    let publisher: Promise<void> = Promise.resolve();
    try {
      const load = new RecordingLoad({ seed: 12, run: `pause-${namespace}`, duplicateShare: 0.3 });
      publisher = (async () => {
        while (publishing) {
          await load.send(other.url, load.nextBatch());
          await sleep(5);
        }
      })();

      // Stop the instance at a moment it holds entries no apply has committed. Each attempt
      // is a chance, not a certainty (its workers may all be between batches), and a loaded
      // machine (the whole suite, two files at a time) makes fewer: 20 attempts once missed
      // every time in CI, 60 bound this at ~30 s.
      let caught = 0;
      for (let attempt = 0; attempt < 60 && caught === 0; attempt++) {
        await sleep(300);
        process.kill(pid, 'SIGSTOP');
        await sleep(200); // statements already sent to PostgreSQL finish without it
        caught = await unappliedPending(redis, db, namespace, 'paused');
        if (caught === 0) process.kill(pid, 'SIGCONT');
      }
      assert.ok(caught > 0, 'the stopped instance holds entries it read and did not apply');

      await sleep(700);
      publishing = false;
      await publisher;
      // The other instance claims the idle entries, stores and acks everything.
      const drained = await waitIdle(other.url, 60_000);
      assert.equal(drained.received, drained.unique_processed + drained.duplicate_dropped);

      // Every instance prunes every minute; two periods pass while the instance is stopped.
      const log = pino({ level: 'silent' });
      const queue = await openRedisQueue({
        url: REDIS_URL,
        namespace,
        consumerName: 'pruner',
        claimIdleMs: 60_000,
        queueMax: 1,
      });
      const store = await openPostgresStore({
        url: DATABASE_URL,
        namespace,
        poolMax: 1,
        consumerName: 'pruner',
      });
      try {
        const prune = deliveryPruner(queue, store, log);
        await prune();
        await prune();
      } finally {
        await Promise.all([queue.close(), store.close()]);
      }

      process.kill(pid, 'SIGCONT');
      // The woken instance applies what it held, then acks it; give it time to.
      for (let i = 0; i < 100; i++) {
        const pendingThere = await redis.xpending(`{${namespace}}:stream`, GROUP);
        if (Number((pendingThere as [number])[0]) === 0) break;
        await sleep(100);
      }
      await sleep(1_000);

      const idle = await waitIdle(other.url, 30_000);
      const rows = await allEvents(other.url);
      const acked = load.ackedEvents();
      const ackedKeys = new Set(acked.map(keyOf));
      assert.equal(rows.length, ackedKeys.size, 'each acknowledged key stored once');
      assert.equal(idle.unique_processed, ackedKeys.size);
      assert.equal(idle.received, acked.length);
      assert.equal(
        idle.duplicate_dropped,
        acked.length - ackedKeys.size,
        'duplicates are the re-sent copies, not the stale ones',
      );
      assert.equal(idle.received, idle.unique_processed + idle.duplicate_dropped, 'invariant');
      const there = await stats(paused.url);
      assert.equal(there.unique_processed, idle.unique_processed);
      assert.equal(there.duplicate_dropped, idle.duplicate_dropped);
    } finally {
      publishing = false;
      await publisher.catch(() => undefined);
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // already gone
      }
      await Promise.all([paused.kill('SIGTERM'), other.kill('SIGTERM')]);
      redis.disconnect();
      await db.end();
      await removeDir(dataDir);
      await dropRedisNamespace(REDIS_URL, namespace);
      await dropPostgresSchema(DATABASE_URL, namespace);
    }
  });
});
