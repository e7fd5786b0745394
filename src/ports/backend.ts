/**
 * Backend port: one deployment mode as the app sees it. A composition (src/adapters/
 * embedded.ts, cluster.ts, or one registered by a test fixture) opens a queue and a store
 * that belong together and owns everything private between the two (the embedded queue
 * log's recovery from the store's applied positions, the cluster's delivery-id pruning), so
 * app.ts never names an adapter and an invalid queue/store pair cannot be opened.
 *
 * States: open (from `open`) -> closed (`close`: the composition's own jobs stop, then the
 * queue closes, then the store; idempotent). The app stops its workers before `close`.
 *
 * Guarantees a composition gives:
 * - `snapshot` reads the queue's stats and the store's counters together; when `exact` is
 *   true they are from one instant, so `received = unique + duplicates + depth` holds in
 *   every snapshot (the app logs and counts a snapshot where it does not). Cluster mode is
 *   not exact: between a commit and its ack a batch is briefly counted in both.
 * - `liveness` lists components that broke for good (only a restart recovers); transient
 *   outages are not listed.
 */
import type { Queue, QueueStats } from './queue.js';
import type { Store, StoreCounters } from './store.js';

export interface BackendSnapshot {
  readonly queue: QueueStats;
  readonly counters: StoreCounters;
  /** The first `max` topic names (name order), from the same read as the counters. */
  readonly topics: readonly string[];
  readonly topicsTotal: number;
}

export interface Backend {
  /** The name /stats reports as `mode`. */
  readonly mode: string;
  readonly queue: Queue;
  readonly store: Store;
  /**
   * True when this process's workers consume every delivery of the requests it accepted,
   * so `?wait=true` can be answered from them (one process owns the queue).
   */
  readonly ownsDeliveries: boolean;
  /** See the header: true when `snapshot` is from one instant. */
  readonly exact: boolean;
  snapshot(maxTopics: number): Promise<BackendSnapshot>;
  /** Named liveness checks; false means broken for good (/healthz fails). */
  liveness(): Record<string, boolean>;
  close(): Promise<void>;
}
