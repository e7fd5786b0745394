/**
 * Consumer workers: take a lease from the queue, apply it to the store in one transaction,
 * ack it, log every dropped duplicate. The loop knows only the two narrow ports, so the same
 * code runs embedded (log queue + SQLite) and in cluster mode (Redis Streams + PostgreSQL).
 *
 * States of one worker: taking -> applying -> acking -> taking ... -> stopped.
 * - apply fails (store down, disk full): the lease is released and the worker backs off
 *   (at most 1 s) and retries, so the events stay queued and counted in queue_depth, and
 *   the worker resumes by itself once the store can write again.
 * - ack fails after a commit: the queue hands the lease out again later and the store
 *   answers 'redelivered' for it, so nothing is counted twice.
 * - stop(): workers finish what they hold and take until the queue reports it is drained
 *   (take resolves null), or until the abort signal fires.
 */
import type { Logger } from 'pino';
import { LogRate } from '../log-rate.js';
import type { Delivery, QueueReader } from '../ports/queue.js';
import type { ApplyResult, EventWriter } from '../ports/store.js';

export interface WorkerDeps {
  readonly queue: QueueReader;
  readonly store: EventWriter;
  readonly log: Logger;
  readonly count: number;
  readonly batchMax: number;
  readonly now?: () => Date;
  /** Called after every committed and acked batch (metrics, ?wait=true waiters, live feed). */
  readonly onApplied?: (result: ApplyResult, deliveries: readonly Delivery[]) => void;
  /** Fault-injection point between the store commit and the queue ack (tests only). */
  readonly afterCommit?: () => void;
}

export interface Workers {
  /** Resolves when every worker has stopped: after the queue drained or `signal` aborted. */
  readonly done: Promise<void>;
  /** Abort waiting takes and stop after the current batch. */
  abort(): void;
}

const BACKOFF_MIN_MS = 50;
// Short enough that an instance is back within a second of its store or queue returning.
const BACKOFF_MAX_MS = 1_000;
const APPLY_ERROR_LOG_MS = 10_000;

export function startWorkers(deps: WorkerDeps): Workers {
  const controller = new AbortController();
  const loops = Array.from({ length: deps.count }, (_, i) => runWorker(i, deps, controller.signal));
  return {
    done: Promise.all(loops).then(() => undefined),
    abort: () => controller.abort(),
  };
}

async function runWorker(index: number, deps: WorkerDeps, signal: AbortSignal): Promise<void> {
  const { queue, store, log, batchMax } = deps;
  const now = deps.now ?? (() => new Date());
  const applyErrors = new LogRate(APPLY_ERROR_LOG_MS);
  const takeErrors = new LogRate(APPLY_ERROR_LOG_MS);
  let backoff = BACKOFF_MIN_MS;
  while (!signal.aborted) {
    let lease;
    try {
      lease = await queue.take(batchMax, signal);
    } catch (err) {
      const held = takeErrors.admit();
      if (held >= 0) {
        log.error(
          { err, worker: index, failuresSinceLastLog: held },
          'queue take failed; retrying',
        );
      }
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      continue;
    }
    if (lease === null) break;
    let result: ApplyResult;
    const started = performance.now();
    try {
      result = await store.apply(lease.deliveries, now());
    } catch (err) {
      // A store that cannot write (a full disk: SQLITE_FULL) fails every retry the same way;
      // one line per interval keeps the log from adding to the full disk.
      const held = applyErrors.admit();
      if (held >= 0) {
        log.error(
          { err, worker: index, events: lease.deliveries.length, failuresSinceLastLog: held },
          'store apply failed; batch stays queued and is retried',
        );
      }
      await queue
        .release(lease)
        .catch((e: unknown) => log.error({ err: e }, 'queue release failed'));
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      continue;
    }
    deps.afterCommit?.();
    // An exact composition (embedded) took the batch out of the queue depth in the step
    // that counted it in the store, before apply resolved; this ack is then idempotent, and
    // whatever runs before it cannot make /stats count the batch twice.
    try {
      await queue.ack(lease);
    } catch (err) {
      log.warn(
        { err, worker: index },
        'queue ack failed after commit; the batch will be redelivered and recognised',
      );
    }
    backoff = BACKOFF_MIN_MS;
    if (log.isLevelEnabled('debug')) {
      log.debug(
        { worker: index, events: lease.deliveries.length, ms: performance.now() - started },
        'batch applied',
      );
    }
    if (result.duplicates > 0) logDuplicates(log, result);
    deps.onApplied?.(result, lease.deliveries);
  }
}

function logDuplicates(log: Logger, result: ApplyResult): void {
  for (const item of result.items) {
    if (item.status === 'duplicate') {
      log.info(
        { topic: item.topic, event_id: item.event_id, delivery: item.delivery },
        `duplicate dropped topic=${item.topic} event_id=${item.event_id}`,
      );
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
