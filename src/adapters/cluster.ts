/**
 * Cluster mode (MODE=cluster, or QUEUE=redis with STORE=postgres): the Redis Streams queue
 * and the PostgreSQL store of one deployment, opened from a validated Config. If the second
 * fails to open, the first is closed again, so a failed start leaves no connection behind.
 * Several processes share both, so ROLE may split them (api, worker), `?wait=true` is not
 * answered (another instance may consume a request), and /stats is not exact while busy
 * (between a commit and its ack a batch is briefly counted in both).
 *
 * It also runs the one job that needs both: every minute, the store forgets the applied
 * delivery ids below the queue's delivery floor (ids Redis can never hand out again, see
 * deliveryPruner), which keeps applied_deliveries at about the size of the unacked backlog. Every instance runs it;
 * it is idempotent and a prefix delete on the primary key. It stops when the store closes.
 */
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Backend } from '../ports/backend.js';
import type { Queue } from '../ports/queue.js';
import type { Store } from '../ports/store.js';
import { closeInOrder, type Composition, type ConfigProblem } from './composition.js';
import type { PostgresStore } from './postgres/store.js';

export const PRUNE_EVERY_MS = 60_000;

export async function openClusterAdapters(
  config: Config,
  log: Logger,
): Promise<{ queue: Queue; store: Store }> {
  // Loaded here, not at import: pg and ioredis were ~100 ms of an embedded start, and the
  // registry imports this module in every mode.
  const [{ openRedisQueue }, { openPostgresStore }] = await Promise.all([
    import('./redis/queue.js'),
    import('./postgres/store.js'),
  ]);
  const queue = await openRedisQueue({
    url: config.redisUrl,
    namespace: config.namespace,
    consumerName: config.consumerName,
    claimIdleMs: config.claimIdleMs,
    queueMax: config.queueMax,
    log: log.child({ adapter: 'redis' }),
  });
  let store: PostgresStore;
  try {
    store = await openPostgresStore({
      url: config.databaseUrl,
      namespace: config.namespace,
      poolMax: config.pgPoolMax,
      consumerName: config.consumerName,
      log: log.child({ adapter: 'postgres' }),
      retention: config.retention,
      positions: queue.positions,
      ...(config.faultDuringExpiry === 'kill'
        ? {
            duringExpiry: () => {
              log.fatal('fault injection: SIGKILL inside an expiry drop, before its commit');
              process.kill(process.pid, 'SIGKILL');
            },
          }
        : {}),
    });
  } catch (err) {
    await queue.close().catch(() => undefined);
    throw err;
  }
  const pruner = deliveryPruner(queue, store, log);
  const timer = setInterval(() => void pruner(), PRUNE_EVERY_MS);
  timer.unref();
  const close = store.close.bind(store);
  return {
    queue,
    store: {
      ...store,
      close: async () => {
        clearInterval(timer);
        await close();
      },
    },
  };
}

/** A queue that names an id below which it never hands one out again (RedisQueue). */
export interface FlooredQueue {
  deliveryFloor(): Promise<string | null>;
}
/** A store that forgets the applied ids below such a floor, in the queue's positions. */
export interface PrunableStore {
  pruneDeliveriesBelow(floor: string): Promise<number>;
}

/**
 * Forgets the applied delivery ids that can never come back: below the queue's current
 * floor. A copy of an entry that a worker still holds in memory after another instance took
 * it over and acked it (a slow apply, a paused process) is recognised as 'redelivered'
 * however late it arrives, because the store answers so for every id below the floor it
 * pruned (migration 3). Never throws.
 */
export function deliveryPruner(
  queue: FlooredQueue,
  store: PrunableStore,
  log: Logger,
): () => Promise<number> {
  return async () => {
    try {
      const floor = await queue.deliveryFloor();
      if (floor === null) return 0;
      const deleted = await store.pruneDeliveriesBelow(floor);
      if (deleted > 0) log.debug({ deleted, floor }, 'pruned applied delivery ids');
      return deleted;
    } catch (err) {
      log.warn({ err }, 'pruning applied delivery ids failed; retrying later');
      return 0;
    }
  };
}

/** A URL setting with one of `protocols`, or the problem with it. */
function urlProblem(
  variable: string,
  text: string,
  protocols: readonly string[],
): ConfigProblem | null {
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    return { variable, message: `must be a URL, got "${text}"` };
  }
  if (!protocols.includes(parsed.protocol)) {
    return { variable, message: `must use ${protocols.join(' or ')}, got "${parsed.protocol}"` };
  }
  return null;
}

async function openCluster(config: Config, { log }: { log: Logger }): Promise<Backend> {
  const { queue, store } = await openClusterAdapters(config, log);
  return {
    mode: 'cluster',
    queue,
    store,
    ownsDeliveries: false,
    exact: false,
    snapshot: async (max) => {
      const [q, counters, topics, topicsTotal] = await Promise.all([
        queue.stats(),
        store.counters(),
        store.topics({ limit: max }).then((page) => page.map((t) => t.topic)),
        store.topicCount(),
      ]);
      return { queue: q, counters, topics, topicsTotal };
    },
    // Outages of Redis or PostgreSQL are transient: readiness reports them, liveness not.
    liveness: () => ({}),
    close: closeInOrder(queue, store),
  };
}

export const clusterComposition: Composition = {
  mode: 'cluster',
  queue: 'redis',
  store: 'postgres',
  splitsRoles: true,
  check: (config) =>
    urlProblem('REDIS_URL', config.redisUrl, ['redis:', 'rediss:']) ??
    urlProblem('DATABASE_URL', config.databaseUrl, ['postgres:', 'postgresql:']),
  open: openCluster,
};
