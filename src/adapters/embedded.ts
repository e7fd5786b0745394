/**
 * Embedded mode (MODE=embedded, or QUEUE=embedded with STORE=sqlite): the queue log and the
 * SQLite store behind its thread, both in DATA_DIR, owned by this one process.
 *
 * The two talk privately here and nowhere else:
 * - at start the queue log replays only what the store has not applied (`isApplied`), never
 *   reuses a sequence number the store has seen (`minNextSeq`, which also covers a deleted
 *   queue dir), and makes the store's applied positions durable before it deletes a segment
 *   (`beforeSegmentDelete`);
 * - the stats invariant holds by construction: when a batch's commit is answered, the
 *   store's counter mirror and the queue's depth change in one synchronous step (the
 *   store's `afterApply` hook acks the lease's deliveries in the queue), so no /stats can run
 *   between them whatever the consumer does before its own (then idempotent) ack, and
 *   `snapshot` reads both without awaiting anything.
 *
 * States: opening (store thread, then queue log; a failed queue start closes the store) ->
 * open -> closed (queue log, then store). ROLE must be `all`: one process owns DATA_DIR.
 */
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { Backend } from '../ports/backend.js';
import { closeInOrder, type Composition, type OpenContext } from './composition.js';
import { prepareDataDir } from './data-dir.js';
import { openLogQueue, type LogQueue } from './log/queue.js';
import { requireSqlitePositions } from './sqlite/store.js';
import { openThreadedSqliteStore } from './sqlite/threaded-store.js';

async function openEmbedded(config: Config, { log }: OpenContext): Promise<Backend> {
  await prepareDataDir(config.dataDir);
  // The queue opens after the store (it recovers from the store's applied positions), and
  // the store's hook needs the queue: bound once the queue is open, before any apply.
  let queue: LogQueue | null = null;
  const store = await openThreadedSqliteStore(join(config.dataDir, 'events.db'), {
    retention: config.retention,
    killDuringExpiry: config.faultDuringExpiry === 'kill',
    afterApply: (deliveries) => queue?.ackApplied(deliveries),
    onDamage: (line) => log.error({ component: 'store' }, line),
    checkIntervalMs: config.storeCheckIntervalMs,
    onCheckPassed: (ms) =>
      log.info({ component: 'store', ms: Math.round(ms) }, 'store check found no damage'),
    onCheckFailed: (err) =>
      log.warn(
        { component: 'store', err: err.message },
        'store check failed (not damage); it runs again after STORE_CHECK_INTERVAL',
      ),
  });
  try {
    queue = await openLogQueue({
      dir: join(config.dataDir, 'queue'),
      queueMax: config.queueMax,
      queueMaxBytes: config.queueMaxBytes,
      log: log.child({ component: 'queue' }),
      isApplied: (seq) => store.isApplied(seq),
      minNextSeq: store.maxAppliedSeq() + 1,
      beforeSegmentDelete: () => store.checkpoint(),
      // CONSUMER_LINGER_MS: config.ts says why 20 ms (LogQueueOptions.lingerMs).
      lingerMs: config.consumerLingerMs,
    });
    // Always true for the queue log; checked here, where the pairing is made.
    requireSqlitePositions(queue.positions);
  } catch (err) {
    await queue?.close();
    await store.close();
    throw err;
  }
  const q = queue;
  return {
    mode: 'embedded',
    queue: q,
    store,
    ownsDeliveries: true,
    exact: true,
    snapshot: (max) =>
      Promise.resolve({
        queue: q.statsNow(),
        counters: store.countersNow(),
        topics: store.topicNames(max),
        topicsTotal: store.topicCountNow(),
      }),
    liveness: () => ({ queue_log: q.writable(), store_thread: store.alive, store: !store.damaged }),
    close: closeInOrder(q, store),
  };
}

export const embeddedComposition: Composition = {
  mode: 'embedded',
  queue: 'embedded',
  store: 'sqlite',
  splitsRoles: false,
  open: openEmbedded,
};
