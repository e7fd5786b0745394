/**
 * The end-of-run report of `logsieve publish` and its verification against /stats.
 *
 * Verification holds only when this run was the aggregator's only publisher. What it checks:
 * - the queue drained (queue_depth reached 0);
 * - unique delta == originals sent: nothing lost, nothing stored twice;
 * - duplicate delta == copies sent, plus at most the events re-sent after an ambiguous
 *   failure (a timeout or dropped connection after the server may have enqueued them);
 * - received delta == accepted, with the same allowance.
 */
import type { ServerStats } from '../client/types.js';
import type { DuplicateKind } from './generate.js';

export interface FailureInfo {
  readonly code: string;
  readonly message: string;
  readonly status?: number;
  readonly details?: readonly { index?: number; field?: string; message: string }[];
}

export interface StatsDelta {
  readonly received: number;
  readonly unique_processed: number;
  readonly duplicate_dropped: number;
}

export interface Verification {
  readonly checked: boolean;
  readonly ok: boolean;
  readonly problems: readonly string[];
}

export interface PublishReport {
  readonly urls: readonly string[];
  readonly seed: string | null;
  readonly sent: number;
  readonly accepted: number;
  readonly unique_sent: number;
  readonly duplicates_sent: number;
  readonly duplicates_by_kind: Readonly<Record<DuplicateKind, number>>;
  readonly batches: number;
  readonly failed_batches: number;
  readonly failed_events: number;
  readonly retries: number;
  readonly http_errors: number;
  readonly network_errors: number;
  readonly maybe_redelivered: number;
  readonly duration_s: number;
  readonly events_per_s: number;
  readonly latency_ms: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly stats_before: ServerStats | null;
  readonly stats_after: ServerStats | null;
  readonly delta: StatsDelta | null;
  readonly drained: boolean;
  readonly verification: Verification;
  readonly failures: readonly FailureInfo[];
}

/** Nearest-rank percentile of an unsorted sample; 0 for an empty one. */
export function percentile(sample: readonly number[], p: number): number {
  if (sample.length === 0) return 0;
  const sorted = [...sample].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? 0;
}

export function statsDelta(before: ServerStats, after: ServerStats): StatsDelta {
  return {
    received: after.received - before.received,
    unique_processed: after.unique_processed - before.unique_processed,
    duplicate_dropped: after.duplicate_dropped - before.duplicate_dropped,
  };
}

export function verify(input: {
  readonly delta: StatsDelta | null;
  /** Whether /stats was read before the run (the delta is null when either read failed). */
  readonly beforeReadable: boolean;
  readonly drained: boolean;
  readonly accepted: number;
  readonly uniqueSent: number;
  readonly duplicatesSent: number;
  readonly maybeRedelivered: number;
  readonly failedBatches: number;
}): Verification {
  const problems: string[] = [];
  if (input.failedBatches > 0) problems.push(`${input.failedBatches} batch(es) failed`);
  if (input.delta === null) {
    problems.push(
      input.beforeReadable
        ? '/stats was not readable after the run'
        : '/stats was not readable before the run: there is nothing to compare it with',
    );
    return { checked: true, ok: false, problems };
  }
  const d = input.delta;
  const slack = input.maybeRedelivered;
  if (!input.drained) problems.push('queue did not drain (queue_depth > 0) before the timeout');
  if (d.unique_processed !== input.uniqueSent) {
    problems.push(`unique delta ${d.unique_processed} != unique events sent ${input.uniqueSent}`);
  }
  const dupOk =
    d.duplicate_dropped >= input.duplicatesSent &&
    d.duplicate_dropped <= input.duplicatesSent + slack;
  if (!dupOk) {
    problems.push(
      `duplicate delta ${d.duplicate_dropped} != duplicates sent ${input.duplicatesSent}` +
        (slack > 0 ? ` (+ up to ${slack} possibly re-delivered)` : ''),
    );
  }
  if (d.received < input.accepted || d.received > input.accepted + slack) {
    problems.push(`received delta ${d.received} != accepted ${input.accepted}`);
  }
  return { checked: true, ok: problems.length === 0, problems };
}

function n(x: number): string {
  return x.toLocaleString('en-US');
}

export function formatReport(r: PublishReport): string {
  const k = r.duplicates_by_kind;
  const lines = [
    `target          ${r.urls.join(', ')}${r.seed === null ? '' : `  (seed ${r.seed})`}`,
    `sent            ${n(r.sent)} events in ${n(r.batches)} batches`,
    `accepted        ${n(r.accepted)}`,
    `unique sent     ${n(r.unique_sent)}`,
    `duplicates sent ${n(r.duplicates_sent)} (immediate ${n(k.immediate)}, cross-batch ${n(k.cross_batch)}, late ${n(k.late)})`,
    `retries         ${n(r.retries)}`,
    `HTTP errors     ${n(r.http_errors)}   network errors ${n(r.network_errors)}`,
    `failed          ${n(r.failed_batches)} batches, ${n(r.failed_events)} events`,
    `duration        ${r.duration_s.toFixed(2)} s`,
    `throughput      ${n(Math.round(r.events_per_s))} events/s`,
    `latency         p50 ${r.latency_ms.p50.toFixed(1)} ms   p99 ${r.latency_ms.p99.toFixed(1)} ms   max ${r.latency_ms.max.toFixed(1)} ms`,
  ];
  if (r.maybe_redelivered > 0) {
    lines.push(`re-sent after ambiguous failures: ${n(r.maybe_redelivered)} events`);
  }
  if (r.delta !== null) {
    lines.push(
      `/stats delta    received +${n(r.delta.received)}   unique +${n(r.delta.unique_processed)}   duplicates +${n(r.delta.duplicate_dropped)}`,
    );
  }
  if (r.stats_after !== null) {
    const a = r.stats_after;
    lines.push(
      `/stats now      received ${n(a.received)}   unique ${n(a.unique_processed)}   duplicates ${n(a.duplicate_dropped)}   queue ${n(a.queue_depth)}${r.drained ? '' : '  (not drained)'}`,
    );
  }
  for (const f of r.failures) {
    lines.push(`error           ${f.code}: ${f.message}`);
    for (const d of f.details ?? []) {
      lines.push(`  - item ${d.index ?? '?'}${d.field ? ` ${d.field}` : ''}: ${d.message}`);
    }
  }
  if (!r.verification.checked) lines.push('verification    skipped (--no-verify)');
  else if (r.verification.ok) lines.push('verification    OK: /stats matches what was sent');
  else for (const p of r.verification.problems) lines.push(`verification    FAILED: ${p}`);
  return lines.join('\n') + '\n';
}
