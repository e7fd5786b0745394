/**
 * Real Redis and PostgreSQL for the cluster tests, never mocks.
 *
 * - The shared services come from TEST_REDIS_URL / TEST_DATABASE_URL (defaults: the local
 *   ones). When one is unreachable the tests skip with one loud line, unless
 *   REQUIRE_SERVICES=1 (CI), where they fail.
 * - Every test takes its own random namespace (Redis key prefix and Postgres schema) and
 *   drops it afterwards, so runs never collide and nothing leaks.
 * - Tests that stop a service start a private one on a free port in a temporary directory
 *   (privateRedis), never touching the shared servers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REQUIRED = process.env.REQUIRE_SERVICES === '1';

/** A namespace valid as NAMESPACE (and so as a schema name and key prefix). */
export function randomNamespace(): string {
  return `t_${randomBytes(6).toString('hex')}`;
}

async function redisReachable(url: string): Promise<string | null> {
  const r = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1_500,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
    await r.ping();
    return null;
  } catch (err) {
    return `Redis at ${url}: ${(err as Error).message}`;
  } finally {
    r.disconnect();
  }
}

async function postgresReachable(url: string): Promise<string | null> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_500 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query('SELECT 1');
    return null;
  } catch (err) {
    return `PostgreSQL at ${url}: ${(err as Error).message}`;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * Null when both services answer; otherwise the reason to skip, printed once, loudly. Throws
 * instead when REQUIRE_SERVICES=1.
 */
export async function clusterServicesSkipReason(): Promise<string | null> {
  const problems = (
    await Promise.all([redisReachable(REDIS_URL), postgresReachable(DATABASE_URL)])
  ).filter((p): p is string => p !== null);
  if (problems.length === 0) return null;
  const reason = `Redis/PostgreSQL not reachable: ${problems.join('; ')}`;
  if (REQUIRED) throw new Error(`REQUIRE_SERVICES=1 but ${reason}`);
  console.log(`\n!!!!! SKIPPING cluster tests: ${reason} !!!!!\n`);
  return reason;
}

/** Deletes every key of a namespace. */
export async function dropRedisNamespace(url: string, namespace: string): Promise<void> {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `{${namespace}}:*`, 'COUNT', 1000);
      if (keys.length > 0) await r.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

export async function dropPostgresSchema(url: string, namespace: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${namespace}" CASCADE`);
  } finally {
    await c.end();
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === 'object' && addr !== null
          ? resolve(addr.port)
          : reject(new Error('no port')),
      );
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  /** Starts (or restarts) the server on the same port and directory, so the AOF is reloaded. */
  start(): Promise<void>;
  /** SIGKILL by default: the AOF (appendfsync always) is all that survives. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Stops the server and deletes its directory. */
  destroy(): Promise<void>;
  /** The running server's process id (for SIGSTOP / SIGCONT). */
  pid(): number;
}

/**
 * A redis-server of our own, with AOF and appendfsync always (what "202 means durable" needs),
 * on a free port in a temporary directory.
 */
export async function privateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'logsieve-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;

  async function start(): Promise<void> {
    const proc = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    );
    child = proc;
    for (let i = 0; i < 100; i++) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}`);
      if ((await redisReachable(url)) === null) return;
      await sleep(50);
    }
    throw new Error(`private redis-server on port ${port} did not start`);
  }

  async function stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = child;
    child = null;
    if (proc === null || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    await exited;
  }

  await start();
  return {
    url,
    port,
    start,
    stop,
    async destroy() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
    pid() {
      const p = child?.pid;
      if (p === undefined) throw new Error('private redis-server is not running');
      return p;
    },
  };
}

export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres, trust auth. */
  readonly url: string;
  /** Starts (or restarts, running crash recovery after an immediate stop) the server. */
  start(): Promise<void>;
  /** `immediate` by default: like a crash, no shutdown checkpoint. */
  stop(mode?: 'immediate' | 'fast'): Promise<void>;
  destroy(): Promise<void>;
}

const PG_BIN_ROOT = '/usr/lib/postgresql';

function run(cmd: string, args: readonly string[], asPostgres: boolean): Promise<string> {
  const [file, argv] = asPostgres
    ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]]
    : [cmd, [...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${out.slice(-500)}`)),
    );
  });
}

/**
 * A PostgreSQL cluster of our own (initdb in a temporary directory, a free port, trust auth,
 * fsync off: it only ever holds test data). As root it runs as the `postgres` user.
 */
export async function privatePostgres(): Promise<PrivatePostgres> {
  const { readdir, chown } = await import('node:fs/promises');
  const versions = (await readdir(PG_BIN_ROOT)).sort((a, b) => Number(b) - Number(a));
  const bin = join(PG_BIN_ROOT, versions[0] ?? '15', 'bin');
  const asPostgres = process.getuid?.() === 0;
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'logsieve-pg-'));
  if (asPostgres) {
    const ids = (await run('id', ['-u', 'postgres'], false)).trim();
    const gid = (await run('id', ['-g', 'postgres'], false)).trim();
    await chown(dir, Number(ids), Number(gid));
  }
  const data = join(dir, 'data');
  await run(
    join(bin, 'initdb'),
    ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'],
    asPostgres,
  );
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`;
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const start = async (): Promise<void> => {
    await run(
      join(bin, 'pg_ctl'),
      ['-D', data, '-l', join(dir, 'log'), '-o', options, '-w', 'start'],
      asPostgres,
    );
  };
  const stop = async (mode: 'immediate' | 'fast' = 'immediate'): Promise<void> => {
    await run(join(bin, 'pg_ctl'), ['-D', data, '-m', mode, '-w', 'stop'], asPostgres).catch(
      () => undefined,
    );
  };
  await start();
  return {
    url,
    start,
    stop,
    async destroy() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
