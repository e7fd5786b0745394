/**
 * Two built aggregator instances under load while their Redis, then their PostgreSQL, is
 * killed and restarted (private servers, never the shared ones): the API answers 503 fast
 * instead of hanging, the instances recover by themselves, and every acknowledged event is
 * stored exactly once with the stats invariant holding once idle.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keyOf, makeEvents } from '../helpers/events.js';
import { allEvents, getJson, postJson, stats, waitIdle } from '../helpers/http.js';
import { RecordingLoad } from '../helpers/load.js';
import { spawnServer, type SpawnedServer } from '../helpers/server.js';
import { makeDataDir, removeDir, sleep } from '../helpers/tmp.js';
import {
  DATABASE_URL,
  REDIS_URL,
  clusterServicesSkipReason,
  dropPostgresSchema,
  dropRedisNamespace,
  privatePostgres,
  privateRedis,
  randomNamespace,
} from './services.js';

const skip = await clusterServicesSkipReason();

async function startInstances(redisUrl: string, databaseUrl: string, namespace: string) {
  const dataDir = await makeDataDir('logsieve-outage');
  const servers = await Promise.all(
    [1, 2].map((i) =>
      spawnServer({
        DATA_DIR: dataDir,
        QUEUE: 'redis',
        STORE: 'postgres',
        REDIS_URL: redisUrl,
        DATABASE_URL: databaseUrl,
        NAMESPACE: namespace,
        CONSUMER_NAME: `instance-${i}`,
        CLAIM_IDLE_MS: '2000',
      }),
    ),
  );
  return {
    servers,
    urls: servers.map((s) => s.url),
    async stop() {
      await Promise.all(servers.map((s: SpawnedServer) => s.kill('SIGTERM')));
      await removeDir(dataDir);
    },
  };
}

/** Publishers that keep sending (recording what got a 202) until stopped. */
function loadUntil(load: RecordingLoad, urls: readonly string[], stop: () => boolean) {
  return Promise.all(
    urls.map(async (url) => {
      while (!stop()) {
        await load.send(url, load.nextBatch());
        await sleep(15);
      }
    }),
  );
}

async function assertAckedStoredOnce(load: RecordingLoad, urls: readonly string[]): Promise<void> {
  const idle = await waitIdle(urls[0] ?? '', 60_000);
  assert.equal(idle.received, idle.unique_processed + idle.duplicate_dropped, 'invariant');
  const other = await stats(urls[1] ?? '');
  assert.equal(other.unique_processed, idle.unique_processed);
  const rows = await allEvents(urls[0] ?? '');
  const stored = new Set(rows.map(keyOf));
  assert.equal(stored.size, rows.length, 'each key stored once');
  assert.equal(idle.unique_processed, rows.length);
  const acked = load.ackedEvents();
  assert.ok(acked.length > 0);
  for (const e of acked) assert.ok(stored.has(keyOf(e)), `acknowledged ${keyOf(e)} is stored`);
}

void describe('aggregator instances through service outages', { skip: skip ?? false }, () => {
  void it('Redis killed and restarted mid-load: 503 with Retry-After fast, then recovery without loss or double counting', async () => {
    const redis = await privateRedis();
    const namespace = randomNamespace();
    const cluster = await startInstances(redis.url, DATABASE_URL, namespace);
    // Outside the try: a failed assertion must stop the publishers too, or their loops keep
    // this file's process (and the whole suite) running after the test has failed.
    let stopped = false;
    let publishing: Promise<unknown> = Promise.resolve();
    try {
      const load = new RecordingLoad({ seed: 3, run: `redis-${namespace}`, duplicateShare: 0.3 });
      publishing = loadUntil(load, cluster.urls, () => stopped);
      await sleep(700);
      await redis.stop('SIGKILL');
      const url = cluster.urls[0] ?? '';
      const started = Date.now();
      const refused = await postJson(`${url}/publish`, makeEvents(3));
      const ms = Date.now() - started;
      assert.equal(refused.status, 503);
      assert.ok(Number(refused.headers.get('retry-after')) >= 1, 'Retry-After');
      assert.ok(ms < 2_500, `503 after ${ms} ms`);
      assert.equal((await getJson(`${url}/readyz`)).status, 503);
      await sleep(1_000);
      await redis.start();
      for (let i = 0; i < 100 && (await getJson(`${url}/readyz`)).status !== 200; i++) {
        await sleep(100);
      }
      assert.equal((await getJson(`${url}/readyz`)).status, 200, 'ready again');
      await sleep(700);
      stopped = true;
      await publishing;
      console.log(`redis outage (instances): 503 after ${ms} ms`);
      await assertAckedStoredOnce(load, cluster.urls);
    } finally {
      stopped = true;
      await publishing.catch(() => undefined);
      await cluster.stop();
      await dropPostgresSchema(DATABASE_URL, namespace);
      await redis.destroy();
    }
  });

  void it('PostgreSQL killed and restarted mid-load: publishing goes on into Redis, reads answer 503, the backlog is applied once', async () => {
    const pg = await privatePostgres();
    const namespace = randomNamespace();
    const cluster = await startInstances(REDIS_URL, pg.url, namespace);
    // As above: the publishers stop however the test ends.
    let stopped = false;
    let publishing: Promise<unknown> = Promise.resolve();
    try {
      const load = new RecordingLoad({ seed: 5, run: `pg-${namespace}`, duplicateShare: 0.3 });
      publishing = loadUntil(load, cluster.urls, () => stopped);
      await sleep(700);
      await pg.stop('immediate');
      const url = cluster.urls[0] ?? '';
      const accepted = await postJson(`${url}/publish`, makeEvents(3));
      assert.equal(accepted.status, 202, 'the durable queue keeps accepting');
      const started = Date.now();
      const events = await getJson(`${url}/events?limit=1`);
      const ms = Date.now() - started;
      assert.equal(events.status, 503);
      assert.ok(ms < 4_000, `503 after ${ms} ms`);
      assert.equal((await getJson(`${url}/readyz`)).status, 503);
      await sleep(1_000);
      await pg.start();
      await sleep(700);
      stopped = true;
      await publishing;
      console.log(`postgres outage (instances): /events 503 after ${ms} ms`);
      await assertAckedStoredOnce(load, cluster.urls);
    } finally {
      stopped = true;
      await publishing.catch(() => undefined);
      await cluster.stop();
      await dropRedisNamespace(REDIS_URL, namespace);
      await pg.destroy();
    }
  });
});
