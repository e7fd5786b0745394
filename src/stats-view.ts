/**
 * The /stats answer: the backend's snapshot (queue stats, store counters, topic names of one
 * read) plus what this process knows (rejected requests, uptime, workers, retention).
 *
 * Guarantee: every answer is checked against the domain invariant (received =
 * unique_processed + duplicate_dropped + queue_depth). For an exact backend (embedded: one
 * instant by construction) a mismatch is a bug: it is logged at error level with the
 * counters and counted in `logsieve_stats_invariant_mismatch_total`, and the answer is still
 * the counters as read (never adjusted, so the evidence reaches the caller too). A backend
 * that is not exact (cluster: a batch is briefly counted in both between commit and ack) is
 * expected to mismatch while busy, so it is not reported.
 */
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { invariantHolds } from './domain/stats.js';
import type { Intake, StatsView } from './http/context.js';
import type { Metrics } from './metrics.js';
import type { Backend } from './ports/backend.js';

/** /stats lists at most this many topic names (SPEC §3); `topics_total` counts all. */
export const STATS_TOPICS_MAX = 1_000;

export interface StatsDeps {
  readonly backend: Pick<Backend, 'mode' | 'exact' | 'snapshot'>;
  readonly config: Pick<Config, 'retention' | 'workers'>;
  readonly intake: Intake;
  readonly consumes: boolean;
  readonly startedAt: Date;
  readonly now: () => Date;
  readonly log: Logger;
  readonly metrics: Pick<Metrics, 'statsMismatch'>;
}

export function createStatsView(deps: StatsDeps): () => Promise<StatsView> {
  const { backend, config, intake, startedAt } = deps;
  const retention = {
    max_age_seconds: seconds(config.retention.maxAgeMs),
    max_bytes: config.retention.maxBytes,
    dedup_window_seconds: seconds(config.retention.dedupWindowMs),
  };
  return async () => {
    const s = await backend.snapshot(STATS_TOPICS_MAX);
    const now = deps.now();
    const view: StatsView = {
      received: s.queue.received,
      unique_processed: s.counters.unique_processed,
      duplicate_dropped: s.counters.duplicate_dropped,
      queue_depth: s.queue.depth,
      stored: s.counters.stored,
      expired: s.counters.expired,
      stored_bytes: s.counters.stored_bytes,
      retention,
      rejected: intake.rejected,
      topics: [...s.topics],
      topics_total: s.topicsTotal,
      uptime_seconds: Math.round((now.getTime() - startedAt.getTime()) / 100) / 10,
      started_at: startedAt.toISOString(),
      workers: deps.consumes ? config.workers : 0,
      mode: backend.mode,
    };
    if (backend.exact && !invariantHolds(view)) {
      deps.metrics.statsMismatch();
      deps.log.error(
        {
          received: view.received,
          unique_processed: view.unique_processed,
          duplicate_dropped: view.duplicate_dropped,
          queue_depth: view.queue_depth,
        },
        'stats invariant broken: received != unique_processed + duplicate_dropped + queue_depth',
      );
    }
    return view;
  };
}

function seconds(ms: number | null): number | null {
  return ms === null ? null : ms / 1000;
}
