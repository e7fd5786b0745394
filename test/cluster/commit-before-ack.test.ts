/**
 * The crash the store's delivery records exist for: an instance commits a batch to
 * PostgreSQL and dies before its XACK reaches Redis. Another instance takes the entries over
 * and applies them again; the store recognises them as redelivered, so nothing is counted
 * twice and the invariant holds once idle.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { keyOf, makeEvents } from '../helpers/events.js';
import { allEvents, postJson, waitIdle } from '../helpers/http.js';
import { spawnServer, type SpawnedServer } from '../helpers/server.js';
import { makeDataDir, removeDir } from '../helpers/tmp.js';
import {
  DATABASE_URL,
  REDIS_URL,
  clusterServicesSkipReason,
  dropPostgresSchema,
  dropRedisNamespace,
  randomNamespace,
} from './services.js';

const skip = await clusterServicesSkipReason();

async function storedRows(namespace: string): Promise<number> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    const r = await client.query<{ n: string }>(`SELECT count(*) AS n FROM "${namespace}".events`);
    return Number(r.rows[0]?.n);
  } finally {
    await client.end();
  }
}

async function pendingEntries(namespace: string): Promise<number> {
  const redis = new Redis(REDIS_URL);
  try {
    const reply = (await redis.call('XPENDING', [`{${namespace}}:stream`, 'workers'])) as unknown[];
    return Number(reply[0]);
  } finally {
    redis.disconnect();
  }
}

void describe(
  'an instance killed between the store commit and the queue ack',
  { skip: skip ?? false },
  () => {
    void it('has its batch redelivered to another instance and counted once', async () => {
      const namespace = randomNamespace();
      const dataDir = await makeDataDir('logsieve-fault');
      const env = {
        DATA_DIR: dataDir,
        QUEUE: 'redis',
        STORE: 'postgres',
        REDIS_URL,
        DATABASE_URL,
        NAMESPACE: namespace,
        WORKERS: '1',
        CLAIM_IDLE_MS: '500',
      };
      const servers: SpawnedServer[] = [];
      try {
        const doomed = await spawnServer({
          ...env,
          CONSUMER_NAME: 'doomed',
          FAULT_AFTER_COMMIT: 'kill',
        });
        servers.push(doomed);
        const events = makeEvents(300);
        const duplicates = events.slice(0, 50);
        const res = await postJson(`${doomed.url}/publish`, [...events, ...duplicates]);
        assert.equal(res.status, 202);
        const exit = await doomed.exited;
        assert.equal(
          exit.signal,
          'SIGKILL',
          'the fault point killed the instance after its commit',
        );
        assert.equal(await storedRows(namespace), 300, 'the batch was committed before the kill');
        assert.equal(await pendingEntries(namespace), 350, 'and never acknowledged');

        const survivor = await spawnServer({ ...env, CONSUMER_NAME: 'survivor' });
        servers.push(survivor);
        const s = await waitIdle(survivor.url, 30_000);
        assert.deepEqual(
          [s.received, s.unique_processed, s.duplicate_dropped, s.queue_depth],
          [350, 300, 50, 0],
          'the redelivered batch changed no counter',
        );
        const rows = await allEvents(survivor.url);
        assert.equal(rows.length, 300);
        assert.equal(new Set(rows.map(keyOf)).size, 300);
      } finally {
        for (const s of servers) await s.kill('SIGKILL').catch(() => undefined);
        await dropRedisNamespace(REDIS_URL, namespace);
        await dropPostgresSchema(DATABASE_URL, namespace);
        await removeDir(dataDir);
      }
    });
  },
);
