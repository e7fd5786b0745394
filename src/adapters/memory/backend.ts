/**
 * The "memory" composition: the in-memory queue (queue.ts) with the SQLite store in this
 * thread, in DATA_DIR/events.db. A test fixture and the worked example of README "Adding a
 * backend": nothing outside adapters/ knows it, and it is not registered unless a test (or
 * a fixture, test/fixtures/memory-backend.ts) calls `registerComposition(memoryComposition)`.
 * Not for production: queued events live only as long as the process.
 *
 * What it owns between its queue and its store (the same duties as embedded.ts):
 * - the queue starts past every delivery position the store has applied (`firstSeq`), so a
 *   new life of the queue over an old store never has its deliveries taken for redeliveries;
 * - exact stats by construction: the store applies synchronously (applySync) and the queue
 *   acks the same deliveries in the same synchronous step, and `snapshot` reads both
 *   without awaiting.
 *
 * States: open -> closed (queue, then store; idempotent). ROLE must be `all`.
 */
import { join } from 'node:path';
import type { Config } from '../../config.js';
import type { Backend } from '../../ports/backend.js';
import type { Delivery } from '../../ports/queue.js';
import type { Store } from '../../ports/store.js';
import { closeInOrder, type Composition } from '../composition.js';
import { prepareDataDir } from '../data-dir.js';
import { openSqliteStore, requireSqlitePositions } from '../sqlite/store.js';
import { openMemoryQueue } from './queue.js';

async function openMemoryBackend(config: Config): Promise<Backend> {
  await prepareDataDir(config.dataDir);
  const sqlite = openSqliteStore({
    file: join(config.dataDir, 'events.db'),
    retention: config.retention,
  });
  const queue = openMemoryQueue({
    queueMax: config.queueMax,
    firstSeq: sqlite.maxAppliedSeq() + 1,
  });
  try {
    requireSqlitePositions(queue.positions);
  } catch (err) {
    await sqlite.close();
    throw err;
  }
  const store: Store = {
    // Throws (rejects) before the ack when the transaction fails: the batch stays leased.
    apply: (deliveries: readonly Delivery[], processedAt: Date) =>
      new Promise((resolve) => {
        const result = sqlite.applySync(deliveries, processedAt);
        queue.ackApplied(deliveries);
        resolve(result);
      }),
    expire: (now) => sqlite.expire(now),
    list: (query, maxBytes) => sqlite.list(query, maxBytes),
    page: (query, maxBytes, format) => sqlite.page(query, maxBytes, format),
    get: (topic, eventId) => sqlite.get(topic, eventId),
    topics: (page) => sqlite.topics(page),
    topicCount: () => sqlite.topicCount(),
    counters: () => sqlite.counters(),
    ready: () => sqlite.ready(),
    close: () => sqlite.close(),
  };
  return {
    mode: 'memory',
    queue,
    store,
    ownsDeliveries: true,
    exact: true,
    snapshot: (max) => {
      const names = sqlite.topicNames();
      return Promise.resolve({
        queue: queue.statsNow(),
        counters: sqlite.countersNow(),
        topics: names.length > max ? names.slice(0, max) : names,
        topicsTotal: names.length,
      });
    },
    liveness: () => ({}),
    close: closeInOrder(queue, sqlite),
  };
}

export const memoryComposition: Composition = {
  mode: 'memory',
  queue: 'memory',
  store: 'sqlite',
  splitsRoles: false,
  open: openMemoryBackend,
};
