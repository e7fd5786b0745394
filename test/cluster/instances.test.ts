/**
 * The built aggregator as three processes on one Redis and one PostgreSQL (the topology the
 * compose file describes, as local processes with the same variables): cluster-wide exact
 * counts with the real publisher, the same keys racing through all three instances, and a
 * SIGKILLed instance whose pending entries the others take over.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { keyOf, makeEvents } from '../helpers/events.js';
import { allEvents, postJson, stats, waitIdle, type StatsBody } from '../helpers/http.js';
import { RecordingLoad } from '../helpers/load.js';
import { spawnServer, type SpawnedServer } from '../helpers/server.js';
import { makeDataDir, removeDir, sleep } from '../helpers/tmp.js';
import {
  DATABASE_URL,
  REDIS_URL,
  clusterServicesSkipReason,
  dropPostgresSchema,
  dropRedisNamespace,
  randomNamespace,
} from './services.js';
import { composeAggregatorEnv } from './compose.js';

const skip = await clusterServicesSkipReason();
const CLI_JS = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

interface Cluster {
  readonly namespace: string;
  readonly servers: SpawnedServer[];
  readonly urls: string[];
  stop(): Promise<void>;
}

/** N instances exactly as docker-compose.yml configures them (but on loopback ports). */
async function startCluster(n: number, extra: Record<string, string> = {}): Promise<Cluster> {
  const namespace = randomNamespace();
  const dataDir = await makeDataDir('logsieve-cluster');
  // The services' variables come from docker-compose.yml itself (aggregator-1..3).
  const env = (i: number): Record<string, string> & { DATA_DIR: string } => ({
    ...composeAggregatorEnv(`aggregator-${((i - 1) % 3) + 1}`, {
      redisUrl: REDIS_URL,
      databaseUrl: DATABASE_URL,
      namespace,
    }),
    CONSUMER_NAME: `instance-${i}`,
    DATA_DIR: dataDir,
    ...extra,
  });
  const servers = await Promise.all(Array.from({ length: n }, (_, i) => spawnServer(env(i + 1))));
  return {
    namespace,
    servers,
    urls: servers.map((s) => s.url),
    async stop() {
      await Promise.all(servers.map((s) => s.kill('SIGTERM')));
      await dropRedisNamespace(REDIS_URL, namespace);
      await dropPostgresSchema(DATABASE_URL, namespace);
      await removeDir(dataDir);
    },
  };
}

/** Entries pending under one consumer of the namespace's group. */
async function pendingOf(namespace: string, consumer: string): Promise<number> {
  const r = new Redis(REDIS_URL);
  try {
    const reply = (await r.call('XPENDING', [`{${namespace}}:stream`, 'workers'])) as unknown[];
    const consumers = (reply[3] ?? []) as [string, string][];
    return Number(consumers.find(([name]) => name === consumer)?.[1] ?? 0);
  } finally {
    r.disconnect();
  }
}

function runPublisher(args: readonly string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_JS, 'publish', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

/** Every instance reports the same cluster-wide totals once idle, and the invariant holds. */
async function idleEverywhere(urls: readonly string[]): Promise<StatsBody> {
  const first = await waitIdle(urls[0] ?? '', 60_000);
  for (const url of urls) {
    const s = await stats(url);
    assert.deepEqual(
      [s.received, s.unique_processed, s.duplicate_dropped, s.queue_depth],
      [first.received, first.unique_processed, first.duplicate_dropped, 0],
      `instance ${url} agrees`,
    );
    assert.equal(s.mode, 'cluster');
  }
  assert.equal(first.received, first.unique_processed + first.duplicate_dropped);
  return first;
}

void describe('three aggregator instances on Redis + PostgreSQL', { skip: skip ?? false }, () => {
  void it('20,000 events with 30 % duplicates over all three, then the same keys sent to all three at once: exact counts, each key stored once', async () => {
    const cluster = await startCluster(3);
    try {
      // Cluster-wide counters, read from any instance while the load runs, never go back.
      let sampling = true;
      const samples: StatsBody[] = [];
      const sampler = (async () => {
        for (let i = 0; sampling; i++) {
          samples.push(await stats(cluster.urls[i % 3] ?? ''));
          await sleep(50);
        }
      })();
      const pub = await runPublisher([
        '--url',
        cluster.urls.join(','),
        '--count',
        '20000',
        '--dup-ratio',
        '0.3',
        '--batch',
        '500',
        '--concurrency',
        '8',
        '--seed',
        '7',
        '--quiet',
      ]);
      assert.equal(pub.code, 0, pub.out);
      sampling = false;
      await sampler;
      assert.ok(samples.length > 5, `${samples.length} samples`);
      for (let i = 1; i < samples.length; i++) {
        const [a, b] = [samples[i - 1], samples[i]] as [StatsBody, StatsBody];
        assert.ok(b.received >= a.received, 'received never goes back');
        assert.ok(b.unique_processed >= a.unique_processed, 'unique never goes back');
        assert.ok(b.duplicate_dropped >= a.duplicate_dropped, 'duplicates never go back');
      }
      const afterPublisher = await idleEverywhere(cluster.urls);
      assert.equal(afterPublisher.unique_processed, 14_000);
      assert.equal(afterPublisher.duplicate_dropped, 6_000);

      // The same 300 new keys, three times to each instance, all at once.
      const racing = makeEvents(300, { topic: 'race' });
      const answers = await Promise.all(
        cluster.urls.flatMap((url) => [1, 2, 3].map(() => postJson(`${url}/publish`, racing))),
      );
      assert.deepEqual(
        answers.map((a) => a.status),
        Array<number>(9).fill(202),
      );
      const final = await idleEverywhere(cluster.urls);
      assert.equal(final.unique_processed, 14_300);
      assert.equal(final.duplicate_dropped, 6_000 + 8 * 300);
      const rows = await allEvents(cluster.urls[1] ?? '');
      assert.equal(rows.length, 14_300);
      assert.equal(new Set(rows.map(keyOf)).size, rows.length, 'each key stored once');
      for (let i = 1; i < rows.length; i++) {
        assert.ok((rows[i]?.offset ?? 0) > (rows[i - 1]?.offset ?? 0), 'offsets increase');
      }
    } finally {
      await cluster.stop();
    }
  });

  void it('SIGKILL of one instance mid-load: the others take over its pending entries; every acknowledged event is stored exactly once', async () => {
    const cluster = await startCluster(3, { CLAIM_IDLE_MS: '1000' });
    try {
      const load = new RecordingLoad({ seed: 11, run: `kill-${Date.now()}`, duplicateShare: 0.3 });
      const victim = cluster.servers[2] as SpawnedServer;
      let stopped = false;
      const publishers = cluster.urls.flatMap((url) =>
        [1, 2].map(() => load.publisher(url, () => stopped, 400)),
      );
      await sleep(800);
      await victim.kill('SIGKILL');
      const orphaned = await pendingOf(cluster.namespace, 'instance-3');
      await sleep(1_200);
      stopped = true;
      await Promise.all(publishers);
      const survivors = cluster.urls.slice(0, 2);
      const s = await idleEverywhere(survivors);
      console.log(`killed instance held ${orphaned} pending entries; all taken over`);
      assert.equal(await pendingOf(cluster.namespace, 'instance-3'), 0);
      const rows = await allEvents(survivors[0] ?? '');
      const stored = new Set(rows.map(keyOf));
      assert.equal(stored.size, rows.length, 'each key stored once');
      assert.equal(s.unique_processed, rows.length);
      const acked = load.ackedEvents();
      assert.ok(acked.length > 0);
      for (const e of acked) assert.ok(stored.has(keyOf(e)), `acknowledged ${keyOf(e)} stored`);
      // Nothing beyond what was sent (acked or not) was stored.
      const sent = new Set(load.sentEvents().map(keyOf));
      for (const k of stored) assert.ok(sent.has(k));
    } finally {
      await cluster.stop();
    }
  });
});
