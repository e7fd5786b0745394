/**
 * Cluster mode wiring: the Redis Streams queue and the PostgreSQL store of one deployment
 * (QUEUE=redis, STORE=postgres), opened from a validated Config. Both are opened before
 * either is used; if the second fails, the first is closed again, so a failed start leaves
 * no connection behind.
 */
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Queue } from '../ports/queue.js';
import type { Store } from '../ports/store.js';
import { openPostgresStore } from './postgres/store.js';
import { openRedisQueue } from './redis/queue.js';

export async function openClusterAdapters(
  config: Config,
  log: Logger,
): Promise<{ queue: Queue; store: Store }> {
  const queue = await openRedisQueue({
    url: config.redisUrl,
    namespace: config.namespace,
    consumerName: config.consumerName,
    claimIdleMs: config.claimIdleMs,
    queueMax: config.queueMax,
    log: log.child({ adapter: 'redis' }),
  });
  try {
    const store = await openPostgresStore({
      url: config.databaseUrl,
      namespace: config.namespace,
      poolMax: config.pgPoolMax,
      consumerName: config.consumerName,
      log: log.child({ adapter: 'postgres' }),
    });
    return { queue, store };
  } catch (err) {
    await queue.close().catch(() => undefined);
    throw err;
  }
}
