/**
 * Redis connections that never hang a caller: no offline queue (a command sent while the
 * connection is down fails at once), no resend of in-flight commands after a reconnect
 * (the caller decides; publishers retry), a timeout on every command, and a reconnect loop
 * capped at one second so an instance is back within about a second of Redis returning.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ConfigError } from '../../config.js';

export interface ConnectionOptions {
  readonly url: string;
  /** Shown in CLIENT LIST. */
  readonly name: string;
  /** Bound on every command's reply, and on connecting. */
  readonly commandTimeoutMs: number;
  readonly log?: Logger | undefined;
}

const RECONNECT_MAX_MS = 1_000;

/**
 * Resolves once the connection is ready, on the database the URL names; rejects (and gives
 * up) when the first connect fails, and with a ConfigError naming REDIS_URL when this Redis
 * has no such database.
 */
export async function connectRedis(opts: ConnectionOptions): Promise<Redis> {
  const redis = new Redis(opts.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: opts.commandTimeoutMs,
    connectTimeout: opts.commandTimeoutMs,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 5), RECONNECT_MAX_MS),
    connectionName: opts.name.replace(/[^\w:.-]/g, '_'),
  });
  // Without a listener ioredis prints every reconnect failure; log the first of an outage.
  // The first connect's own failure is the caller's to report, in one line.
  let connecting = true;
  let down = false;
  redis.on('error', (err: Error) => {
    if (connecting || down) return;
    down = true;
    opts.log?.warn(
      { err: err.message, connection: opts.name },
      'redis connection lost; reconnecting',
    );
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    opts.log?.info({ connection: opts.name }, 'redis connection restored');
  });
  try {
    await redis.connect();
    // ioredis reports a refused SELECT (an index past this server's `databases`) as an error
    // event and carries on, on database 0: maybe another deployment's keys. Found by an
    // outside probe. Selecting again here fails the start instead.
    const db = redis.options.db ?? 0;
    if (db !== 0) {
      await redis.select(db).catch((err: unknown) => {
        throw new ConfigError(
          'REDIS_URL',
          `names database ${db}, which this Redis refuses (${(err as Error).message})`,
        );
      });
    }
  } catch (err) {
    redis.disconnect();
    throw err;
  } finally {
    connecting = false;
  }
  return redis;
}

/** QUIT politely (pending replies arrive first), but never wait longer than `ms`. */
export async function closeRedis(redis: Redis, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.quit().catch(() => undefined),
      new Promise((resolve) => {
        timer = setTimeout(resolve, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    redis.disconnect();
  }
}
