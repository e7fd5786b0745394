/**
 * Wiring only: a validated Config in, a running aggregator out. The backend comes from the
 * composition config.mode names (src/adapters/registry.ts), so this file never names an
 * adapter; http/ and consumer/ see only the ports. The /stats answer, fault injection and the
 * shutdown order live in their own modules (stats-view.ts, faults.ts, shutdown.ts).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createSecureContext } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { compositionNamed } from './adapters/registry.js';
import { ConfigError, type Config } from './config.js';
import { startExpiry, type ExpiryLoop } from './consumer/expiry.js';
import { ResultWaiters } from './consumer/waiters.js';
import { startWorkers, type Workers } from './consumer/worker.js';
import { createEventValidator } from './domain/validate.js';
import { workerFaults } from './faults.js';
import type { HttpContext, Intake } from './http/context.js';
import { Changes } from './http/changes.js';
import { createServer } from './http/server.js';
import { createMetrics, MAX_TOPIC_LABELS } from './metrics.js';
import type { Backend } from './ports/backend.js';
import type { Delivery } from './ports/queue.js';
import type { ApplyResult } from './ports/store.js';
import { shutdownSequence } from './shutdown.js';
import { createStatsView } from './stats-view.js';

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
 * The PEM files of TLS_CERT_FILE / TLS_KEY_FILE, checked to make a TLS context (PEM, and a
 * key that matches the certificate), or a ConfigError naming the variable: start-up ends
 * with exit code 2 before the backend opens.
 */
async function readTls(config: Config): Promise<{ cert: Buffer; key: Buffer } | null> {
  if (config.tls === null) return null;
  const read = async (variable: string, file: string): Promise<Buffer> => {
    try {
      return await readFile(file);
    } catch (err) {
      throw new ConfigError(variable, `${file} cannot be read: ${(err as Error).message}`);
    }
  };
  const pem = {
    cert: await read('TLS_CERT_FILE', config.tls.certFile),
    key: await read('TLS_KEY_FILE', config.tls.keyFile),
  };
  try {
    createSecureContext(pem);
  } catch (err) {
    throw new ConfigError(
      'TLS_CERT_FILE',
      `${config.tls.certFile} and TLS_KEY_FILE ${config.tls.keyFile} are not a PEM certificate and its key: ${(err as Error).message}`,
    );
  }
  return pem;
}

async function openBackend(config: Config, log: Logger): Promise<Backend> {
  const composition = compositionNamed(config.mode);
  if (composition === undefined) throw new Error(`no composition is registered as ${config.mode}`);
  return composition.open(config, { log });
}

export async function buildApp(config: Config, opts: AppOptions): Promise<App> {
  const log = opts.logger;
  const tls = await readTls(config);
  const backend = await openBackend(config, log);
  const { queue, store } = backend;
  const now = opts.now ?? (() => new Date());
  const startedAt = now();
  const consumes = config.role !== 'api';
  // ?wait=true is answered from this process's workers, so only where they see every
  // delivery of the requests this process accepted.
  const waiters = consumes && backend.ownsDeliveries ? new ResultWaiters() : null;
  const intake: Intake = { accepting: true, rejected: 0 };
  const changes = new Changes();
  const closingController = new AbortController();
  // The first topics by name get the metric labels (README "Metrics"); a store that cannot
  // be read yet (cluster mode, PostgreSQL down) leaves them to arrival order.
  const known = await store.topics({ limit: MAX_TOPIC_LABELS }).catch(() => []);
  const metrics = createMetrics(
    async () => (await queue.stats()).depth,
    () => store.counters(),
    known.map((t) => t.topic),
  );
  const stats = createStatsView({
    backend,
    config,
    intake,
    consumes,
    startedAt,
    now,
    log,
    metrics,
  });

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
    liveness: () => backend.liveness(),
    intake,
    waitTimeoutMs: config.waitTimeoutMs,
    metrics,
    changes,
    closing: closingController.signal,
    maxSubscribers: config.maxSubscribers,
  };
  // The backend is open (queue log, store thread, DATA_DIR lock): a server that cannot be
  // made (a TLS file that is not PEM) must close it, or this process keeps DATA_DIR locked.
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
  }).catch(async (err: unknown) => {
    await backend
      .close()
      .catch((closeErr: unknown) =>
        log.error({ err: closeErr }, 'closing the backend after a failed start failed'),
      );
    throw err;
  });

  const workers: Workers | null = consumes
    ? startWorkers({
        queue,
        store,
        log: log.child({ component: 'consumer' }),
        count: config.workers,
        batchMax: config.batchMax,
        ...(opts.now ? { now: opts.now } : {}),
        ...workerFaults(config, log),
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

  const close = shutdownSequence({
    intake,
    closing: closingController,
    changes,
    backend,
    workers,
    expiry,
    server,
    drainTimeoutMs: config.shutdownTimeoutS * 1000,
    log,
  });

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
