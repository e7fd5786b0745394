/**
 * Wiring: a validated Config in, a running aggregator out. This is the only place that knows
 * which adapters exist; http/ and consumer/ see only the ports.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { openLogQueue } from './adapters/log/queue.js';
import { openThreadedSqliteStore } from './adapters/sqlite/threaded-store.js';
import type { Config } from './config.js';
import { startExpiry, type ExpiryLoop } from './consumer/expiry.js';
import { ResultWaiters } from './consumer/waiters.js';
import { startWorkers, type Workers } from './consumer/worker.js';
import { createEventValidator } from './domain/validate.js';
import type { HttpContext, Intake, StatsView } from './http/context.js';
import { Changes } from './http/changes.js';
import { createServer } from './http/server.js';
import { createMetrics } from './metrics.js';
import type { Delivery, Queue } from './ports/queue.js';
import type { ApplyResult, Store } from './ports/store.js';

const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string })
  .version;

export interface App {
  readonly config: Config;
  readonly server: FastifyInstance;
  /** Starts listening; resolves with the base URL. */
  listen(): Promise<string>;
  /** Stop intake (503), drain the queue, close the server and the adapters. Idempotent. */
  close(): Promise<void>;
}

export interface AppOptions {
  readonly logger: Logger;
  readonly now?: () => Date;
  /** Extra observers of applied batches (tests, metrics). */
  readonly onApplied?: (result: ApplyResult, deliveries: readonly Delivery[]) => void;
}

/**
 * See LogQueueOptions.lingerMs. Under W2 (single-event requests) 5 ms gave the consumer
 * batches of ~35 instead of ~15 events and the best ingest rate of 2, 5 and 10 ms: every
 * batch is a message to the store thread, and a thread wake-up is expensive on these VMs.
 */
const EMBEDDED_LINGER_MS = 5;

/** /stats lists at most this many topic names (SPEC §3); `topics_total` counts all. */
const STATS_TOPICS_MAX = 1_000;

/** The PEM files of TLS_CERT_FILE / TLS_KEY_FILE, or an error naming the unreadable one. */
async function readTls(config: Config): Promise<{ cert: Buffer; key: Buffer } | null> {
  if (config.tls === null) return null;
  const read = async (variable: string, file: string): Promise<Buffer> => {
    try {
      return await readFile(file);
    } catch (err) {
      throw new Error(`${variable} ${file} cannot be read: ${(err as Error).message}`, {
        cause: err,
      });
    }
  };
  return {
    cert: await read('TLS_CERT_FILE', config.tls.certFile),
    key: await read('TLS_KEY_FILE', config.tls.keyFile),
  };
}

interface Adapters {
  readonly queue: Queue;
  readonly store: Store;
  /**
   * Named liveness checks: false means a component broke for good (a failed queue-log
   * write, a dead store thread) and only a restart recovers, so /healthz fails and a
   * supervisor restarts the process. Cluster outages are transient and not listed here.
   */
  readonly liveness?: () => Record<string, boolean>;
  /** The first `max` topic names, from the same instant as the counters, when mirrored. */
  readonly topicNames?: (max: number) => string[];
}

async function openAdapters(config: Config, log: Logger): Promise<Adapters> {
  if (config.queue === 'redis') {
    // Loaded only in cluster mode: pg and ioredis were ~100 ms of an embedded start.
    const { openClusterAdapters } = await import('./adapters/cluster.js');
    return openClusterAdapters(config, log);
  }
  await mkdir(config.dataDir, { recursive: true });
  const store = await openThreadedSqliteStore(join(config.dataDir, 'events.db'), {
    retention: config.retention,
    killDuringExpiry: config.faultDuringExpiry === 'kill',
  });
  try {
    const queue = await openLogQueue({
      dir: join(config.dataDir, 'queue'),
      queueMax: config.queueMax,
      queueMaxBytes: config.queueMaxBytes,
      log: log.child({ component: 'queue' }),
      isApplied: (seq) => store.isApplied(seq),
      minNextSeq: store.maxAppliedSeq() + 1,
      beforeSegmentDelete: () => store.checkpoint(),
      lingerMs: EMBEDDED_LINGER_MS,
    });
    return {
      queue,
      store,
      liveness: () => ({ queue_log: queue.writable(), store_thread: store.alive }),
      topicNames: (max) => store.topicNames(max),
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}

export async function buildApp(config: Config, opts: AppOptions): Promise<App> {
  const log = opts.logger;
  const tls = await readTls(config);
  const { queue, store, liveness, topicNames } = await openAdapters(config, log);
  const startedAt = (opts.now ?? (() => new Date()))();
  const consumes = config.role !== 'api';
  // In cluster mode another instance may consume a request's deliveries, so only embedded
  // mode can answer ?wait=true from its own workers.
  const waiters = consumes && config.queue === 'embedded' ? new ResultWaiters() : null;
  const intake: Intake = { accepting: true, rejected: 0 };
  const changes = new Changes();
  const closingController = new AbortController();
  const metrics = createMetrics(
    async () => (await queue.stats()).depth,
    () => store.counters(),
  );
  const retentionView = {
    max_age_seconds: seconds(config.retention.maxAgeMs),
    max_bytes: config.retention.maxBytes,
    dedup_window_seconds: seconds(config.retention.dedupWindowMs),
  };

  const stats = async (): Promise<StatsView> => {
    // Called together so that embedded adapters (mirrors in this thread) answer from one
    // instant: the invariant holds in every response, not only when idle, and the topic
    // list matches the counters.
    const [q, c, topics, topicsTotal] = await Promise.all([
      queue.stats(),
      store.counters(),
      topicNames
        ? topicNames(STATS_TOPICS_MAX)
        : store.topics({ limit: STATS_TOPICS_MAX }).then((page) => page.map((t) => t.topic)),
      store.topicCount(),
    ]);
    const now = (opts.now ?? (() => new Date()))();
    return {
      received: q.received,
      unique_processed: c.unique_processed,
      duplicate_dropped: c.duplicate_dropped,
      queue_depth: q.depth,
      stored: c.stored,
      expired: c.expired,
      stored_bytes: c.stored_bytes,
      retention: retentionView,
      rejected: intake.rejected,
      topics,
      topics_total: topicsTotal,
      uptime_seconds: Math.round((now.getTime() - startedAt.getTime()) / 100) / 10,
      started_at: startedAt.toISOString(),
      workers: consumes ? config.workers : 0,
      mode: config.queue === 'redis' ? 'cluster' : 'embedded',
    };
  };

  const ctx: HttpContext = {
    queue,
    reader: store,
    validate: createEventValidator({
      maxEvents: config.maxBatchEvents,
      maxPayloadBytes: config.maxPayloadBytes,
    }),
    stats,
    readiness: async () => {
      const [q, s] = await Promise.all([
        queue.ready().catch(() => false),
        store.ready().catch(() => false),
      ]);
      return { queue: q && intake.accepting, store: s };
    },
    waiters,
    liveness: liveness ?? (() => ({})),
    intake,
    waitTimeoutMs: config.waitTimeoutMs,
    metrics,
    changes,
    closing: closingController.signal,
    maxSubscribers: config.maxSubscribers,
  };
  const server = await createServer(ctx, {
    version: VERSION,
    logger: log,
    maxBodyBytes: config.maxBodyBytes,
    publicApi: config.role !== 'worker',
    otlpTopicAttribute: config.otlpTopicAttribute,
    access: {
      fullKeys: config.apiKeys,
      readKeys: config.readApiKeys,
      publicReads: config.publicReads,
      metricsPublic: config.metricsPublic,
    },
    tls,
  });

  const workers: Workers | null = consumes
    ? startWorkers({
        queue,
        store,
        log: log.child({ component: 'consumer' }),
        count: config.workers,
        batchMax: config.batchMax,
        ...(opts.now ? { now: opts.now } : {}),
        ...(config.faultAfterCommit === 'kill'
          ? {
              afterCommit: () => {
                log.fatal('fault injection: SIGKILL after the store commit, before the queue ack');
                process.kill(process.pid, 'SIGKILL');
              },
            }
          : {}),
        onApplied: (result, deliveries) => {
          waiters?.settle(result);
          if (result.stored > 0) changes.wake();
          metrics.applied(result, eventLag(result, deliveries));
          opts.onApplied?.(result, deliveries);
        },
      })
    : null;

  // Expiry runs where the consumers run (ROLE=api instances leave it to the workers).
  const expiry: ExpiryLoop | null = consumes
    ? startExpiry({
        store,
        policy: config.retention,
        log: log.child({ component: 'expiry' }),
        ...(opts.now ? { now: opts.now } : {}),
      })
    : null;

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      intake.accepting = false;
      closingController.abort();
      changes.wake();
      queue.stopIntake();
      if (workers !== null) {
        const timer = setTimeout(() => {
          log.warn('drain timed out; stopping workers with events still queued');
          workers.abort();
        }, config.shutdownTimeoutS * 1000);
        await workers.done;
        clearTimeout(timer);
      }
      await expiry?.stop();
      await server.close();
      await queue.close();
      await store.close();
    })();
    return closing;
  };

  return {
    config,
    server,
    listen: async () => {
      const url = await server.listen({ port: config.port, host: config.host });
      // The HTTPS server comes from a factory (server.ts), which Fastify's address cannot see.
      return tls === null ? url : url.replace(/^http:/, 'https:');
    },
    close,
  };
}

function seconds(ms: number | null): number | null {
  return ms === null ? null : ms / 1000;
}

/** Event-time lag of up to 64 stored events of a batch (a sample keeps the cost flat). */
function eventLag(result: ApplyResult, deliveries: readonly Delivery[]): number[] {
  const now = Date.now();
  const out: number[] = [];
  for (let i = 0; i < result.items.length && out.length < 64; i++) {
    const item = result.items[i];
    const delivery = deliveries[i];
    if (item?.status !== 'stored' || delivery === undefined) continue;
    out.push((now - Date.parse(delivery.event.timestamp)) / 1000);
  }
  return out;
}
