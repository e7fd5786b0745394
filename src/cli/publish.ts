/**
 * `logsieve publish`: generate a workload, send it with N concurrent requests, wait for the
 * aggregator to drain, then report and verify against the /stats delta.
 * Exit status: 0 done and verified, 1 verification failed, 2 bad flags, 3 a batch failed.
 */
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Publisher } from '../client/publisher.js';
import { PublisherError, RejectedError } from '../client/errors.js';
import type { ServerStats } from '../client/types.js';
import { decimal, integer, list, UsageError, urlList } from './args.js';
import { planBatches, type DuplicateKind } from './generate.js';
import { startProgress, type ProgressSink } from './progress.js';
import {
  formatReport,
  percentile,
  statsDelta,
  verify,
  type FailureInfo,
  type PublishReport,
} from './report.js';

export interface Io {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: ProgressSink;
  /** Aborting stops sending (SIGINT); the report still prints. */
  readonly signal?: AbortSignal;
  /** LOGSIEVE_API_KEY (read by main.ts): the key when --api-key is not given. */
  readonly envApiKey?: string;
}

/**
 * --api-key, else LOGSIEVE_API_KEY: a key in the environment stays out of the process list
 * and lets a container (the compose publisher) take one without a flag.
 */
export function apiKeyOf(flag: string | undefined, io: Io): { apiKey?: string } {
  const key = flag ?? io.envApiKey;
  return key === undefined ? {} : { apiKey: key };
}

export const PUBLISH_HELP = `Usage: logsieve publish [options]

  --url URL             aggregator base URL; repeat or comma-separate for several
                        instances (round-robin with failover)   [${'http://127.0.0.1:8080'}]
  --count N             events to send, duplicates included     [10000; unbounded with --duration]
  --dup-ratio R         share of --count sent as duplicates, 0 <= R < 1   [0.3]
  --batch N             events per request                      [500]
  --concurrency N       requests in flight                      [4]
  --topics a,b          topics                                  [login,order,payment]
  --source a,b          sources                                 [checkout-svc,auth-svc,web]
  --rate N              events per second, 0 = as fast as possible   [0]
  --duration S          stop after S seconds
  --seed S              reproducible events, ids and duplicate schedule
  --api-key K           send Authorization: Bearer K   [$LOGSIEVE_API_KEY]
  --timeout MS          per-request timeout                     [10000]
  --max-attempts N      attempts per batch                      [10]
  --max-retry-time S    give up on a batch after S seconds of retrying   [60]
  --drain-timeout S     wait this long for queue_depth 0        [60]
  --no-verify           do not compare /stats with what was sent (other publishers active)
  --dry-run             print the batches as NDJSON instead of sending
  --json                print the report as JSON
  --quiet               no progress output
`;

function failureInfo(err: unknown): FailureInfo {
  if (err instanceof RejectedError) {
    return { code: err.code, message: err.message, status: err.status, details: err.details };
  }
  if (err instanceof PublisherError) return { code: err.code, message: err.message };
  return { code: 'internal', message: err instanceof Error ? err.message : String(err) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function publishCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values: v } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      url: { type: 'string', multiple: true },
      count: { type: 'string' },
      'dup-ratio': { type: 'string' },
      batch: { type: 'string' },
      concurrency: { type: 'string' },
      topics: { type: 'string' },
      source: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      seed: { type: 'string' },
      'api-key': { type: 'string' },
      timeout: { type: 'string' },
      'max-attempts': { type: 'string' },
      'max-retry-time': { type: 'string' },
      'drain-timeout': { type: 'string' },
      'no-verify': { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
    },
  });
  const urls = urlList(v.url);
  const durationS =
    v.duration === undefined ? undefined : decimal('duration', v.duration, 0, 0.001, 1e9);
  const count = integer('count', v.count, durationS === undefined ? 10_000 : Infinity, 1);
  const workload = {
    count,
    dupRatio: decimal('dup-ratio', v['dup-ratio'], 0.3, 0, 1, true),
    batchSize: integer('batch', v.batch, 500, 1, 100_000),
    topics: list('topics', v.topics, ['login', 'order', 'payment']),
    sources: list('source', v.source, ['checkout-svc', 'auth-svc', 'web']),
    seed: v.seed ?? randomBytes(8).toString('hex'),
    deterministic: v.seed !== undefined,
  };
  for (const t of workload.topics) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/.test(t) || t.length > 200) {
      throw new UsageError(`--topics: invalid topic name "${t}"`);
    }
  }
  const concurrency = integer('concurrency', v.concurrency, 4, 1, 1024);
  const rate = decimal('rate', v.rate, 0, 0, 1e9);
  const drainTimeoutMs = decimal('drain-timeout', v['drain-timeout'], 60, 0, 86_400) * 1000;
  const checkStats = !v['no-verify'];

  if (v['dry-run']) {
    for (const b of planBatches(workload)) {
      io.stdout.write(JSON.stringify({ batch: b.index, events: b.events }) + '\n');
    }
    return 0;
  }

  const latencies: number[] = [];
  const publisher = new Publisher({
    url: urls,
    maxInFlight: concurrency,
    // setTimeout holds at most 2^31 - 1 ms; longer would fire at once.
    requestTimeoutMs: integer('timeout', v.timeout, 10_000, 1, 2_147_483_647),
    maxAttempts: integer('max-attempts', v['max-attempts'], 10, 1, 1000),
    maxRetryTimeMs: decimal('max-retry-time', v['max-retry-time'], 60, 0.001, 86_400) * 1000,
    ...apiKeyOf(v['api-key'], io),
    ...(io.signal === undefined ? {} : { signal: io.signal }),
    onRequest: (info) => {
      if (info.status !== undefined) latencies.push(info.durationMs);
    },
  });

  const fetchStats = async (): Promise<ServerStats | null> => {
    try {
      return await publisher.fetchStats();
    } catch {
      return null;
    }
  };

  const statsBefore = await fetchStats();
  if (statsBefore === null && checkStats) {
    io.stderr.write('warning: GET /stats failed before the run; the report cannot be verified\n');
  }
  const started = performance.now();
  const batches = planBatches(workload);
  let uniqueSent = 0;
  let duplicatesSent = 0;
  const byKind: Record<DuplicateKind, number> = { immediate: 0, cross_batch: 0, late: 0 };
  let dispatched = 0;
  let stop = false;
  const failures: FailureInfo[] = [];
  const progress = v.quiet
    ? undefined
    : startProgress(io.stderr, () => {
        const c = publisher.counters();
        return {
          done: c.eventsSent,
          total: count,
          retries: c.retries,
          errors: c.httpErrors + c.networkErrors,
          elapsedMs: performance.now() - started,
        };
      });

  const worker = async (): Promise<void> => {
    while (!stop && io.signal?.aborted !== true) {
      if (durationS !== undefined && performance.now() - started >= durationS * 1000) break;
      const next = batches.next();
      if (next.done === true) break;
      const batch = next.value;
      if (rate > 0) {
        // A schedule, not a sleep per batch: slow batches do not lower the average rate.
        const due = started + (dispatched / rate) * 1000;
        if (durationS !== undefined && due - started >= durationS * 1000) break;
        dispatched += batch.events.length;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
      }
      try {
        await publisher.send(batch.events);
        uniqueSent += batch.originals;
        for (const k of Object.keys(byKind) as DuplicateKind[]) {
          byKind[k] += batch.duplicates[k];
          duplicatesSent += batch.duplicates[k];
        }
      } catch (err) {
        // A 4xx or an unreachable aggregator would fail every later batch the same way.
        failures.push(failureInfo(err));
        stop = true;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const sendMs = performance.now() - started;
  progress?.stop();

  // Read after the run even when it could not be read before (the aggregator came up late):
  // the report shows it, though without a before there is no delta to verify.
  let statsAfter: ServerStats | null = null;
  let drained = false;
  const acceptedInRun = publisher.counters().eventsAccepted;
  const deadline = performance.now() + drainTimeoutMs;
  for (;;) {
    statsAfter = (await fetchStats()) ?? statsAfter;
    // Never readable, before or now: no drain to wait for (an unreachable aggregator).
    if (statsBefore === null && statsAfter === null) break;
    if (
      statsAfter !== null &&
      statsAfter.queue_depth === 0 &&
      (statsBefore === null || statsAfter.received - statsBefore.received >= acceptedInRun)
    ) {
      drained = true;
      break;
    }
    if (performance.now() >= deadline || io.signal?.aborted === true) break;
    await sleep(100);
  }
  await publisher.close().catch(() => undefined);

  const c = publisher.counters();
  const delta =
    statsBefore !== null && statsAfter !== null ? statsDelta(statsBefore, statsAfter) : null;
  const report: PublishReport = {
    urls,
    seed: v.seed ?? null,
    sent: c.eventsSent,
    accepted: c.eventsAccepted,
    unique_sent: uniqueSent,
    duplicates_sent: duplicatesSent,
    duplicates_by_kind: byKind,
    batches: c.batchesSent,
    failed_batches: c.batchesFailed,
    failed_events: c.eventsFailed,
    retries: c.retries,
    http_errors: c.httpErrors,
    network_errors: c.networkErrors,
    maybe_redelivered: c.eventsMaybeRedelivered,
    duration_s: sendMs / 1000,
    events_per_s: sendMs > 0 ? (c.eventsSent * 1000) / sendMs : 0,
    latency_ms: {
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: percentile(latencies, 100),
    },
    stats_before: statsBefore,
    stats_after: statsAfter,
    delta,
    drained,
    verification: checkStats
      ? verify({
          delta,
          beforeReadable: statsBefore !== null,
          drained,
          accepted: c.eventsAccepted,
          uniqueSent,
          duplicatesSent,
          maybeRedelivered: c.eventsMaybeRedelivered,
          failedBatches: c.batchesFailed,
        })
      : { checked: false, ok: true, problems: [] },
    failures,
  };
  io.stdout.write(v.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
  if (failures.length > 0) return 3;
  return report.verification.ok ? 0 : 1;
}
