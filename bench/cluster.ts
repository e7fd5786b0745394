/** Cluster-mode bench fixtures: N aggregator processes on one Redis and one PostgreSQL. */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { startAggregator, type Running } from './servers.js';

export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const DATABASE_URL =
  process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface Cluster {
  readonly urls: string[];
  readonly servers: Running[];
  stop(): Promise<void>;
}

export async function startCluster(
  instances: number,
  extraEnv: Record<string, string> = {},
): Promise<Cluster> {
  const namespace = `bench_${randomBytes(4).toString('hex')}`;
  const env = {
    QUEUE: 'redis',
    STORE: 'postgres',
    REDIS_URL,
    DATABASE_URL,
    NAMESPACE: namespace,
    LOG_LEVEL: 'warn',
    ...extraEnv,
  };
  const servers: Running[] = [];
  // The first instance runs the migrations; the others then start together.
  servers.push(await startAggregator({ ...env, CONSUMER_NAME: 'bench-1' }));
  servers.push(
    ...(await Promise.all(
      Array.from({ length: instances - 1 }, (_, i) =>
        startAggregator({ ...env, CONSUMER_NAME: `bench-${i + 2}` }),
      ),
    )),
  );
  return {
    urls: servers.map((s) => s.url),
    servers,
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()));
      await dropNamespace(namespace);
    },
  };
}

async function dropNamespace(namespace: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `{${namespace}}:*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${namespace}" CASCADE`);
  } finally {
    await client.end();
  }
}
