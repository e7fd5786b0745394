/**
 * `npm run bench`: the issue workloads against built servers in their own processes on fresh
 * data, driven from this process over keep-alive connections, each timed until /stats shows
 * every event processed.
 *
 *   ceiling  the load generators against a do-nothing server (their own limit)
 *   W1       20,000 events, 30 % duplicates, batches of 500, 4 concurrent requests
 *   O1       W1's mix as OTLP/HTTP protobuf log exports to POST /v1/logs (bench/otlp.ts)
 *   W2       5,000 single-event requests, 20 % duplicates, 16 concurrent
 *   C1, C3   W1 in cluster mode (Redis Streams + PostgreSQL) on 1 and 3 instances
 *   compare  W2 against logsieve, a private NATS JetStream and the durable floor (node:http
 *            with O_DSYNC writes and nothing else, bench/durable-floor-server.ts), interleaved
 *            (`--compare`)
 *   W1R      W1 while 8 clients (--readers) read 10,000-row /events pages without pause,
 *            on a store preloaded with --heavy-events events of 4 KiB (default 20,000):
 *            compare with W1 to see what heavy readers cost ingest
 *
 * Each workload runs `--rounds` times (default 4) on the same server with fresh ids. The
 * first round is reported as "cold" (a new process runs unoptimised code); the last round is
 * the steady-state figure. `npm run bench -- --only w1,w2 --rounds 1` for a quick look.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Static } from '@sinclair/typebox';
import type { StatsSchema } from '../src/domain/schemas.js';
import type { Counters } from '../src/domain/stats.js';
import { startCluster } from './cluster.js';
import { natsAvailable, natsRound, startNats, type NatsRound } from './nats.js';
import { runGrowth } from './growth.js';
import { getJson, makeEvents, percentile, sendAll, sendAllFast } from './load.js';
import { otlpBodies } from './otlp.js';
import {
  rssMiB,
  startAggregator,
  startDurableFloorServer,
  startNoopServer,
  type Running,
} from './servers.js';

/** GET /stats, as the server's StatsSchema declares it. */
type Stats = Readonly<Static<typeof StatsSchema>>;

interface Round {
  /** Events per second from the first request to /stats showing all processed. */
  readonly endToEnd: number;
  /** Events (W1) or requests (W2) per second accepted by /publish. */
  readonly ingest: number;
  readonly p50: number;
  readonly p99: number;
  readonly unique: number;
  readonly duplicates: number;
  readonly failed: number;
}

const { values: args } = parseArgs({
  options: {
    only: { type: 'string', default: 'ceiling,w1,o1,w1r,w2,c1,c3' },
    rounds: { type: 'string', default: '4' },
    workers: { type: 'string' },
    compare: { type: 'boolean', default: false },
    preload: { type: 'string' },
    'steady-age': { type: 'string', default: '20s' },
    'steady-seconds': { type: 'string', default: '120' },
    'steady-control': { type: 'boolean', default: false },
    readers: { type: 'string', default: '8' },
    'heavy-events': { type: 'string', default: '20000' },
  },
});
const only = new Set(args.compare ? ['compare'] : (args.only ?? '').split(','));
const rounds = Math.max(1, Number(args.rounds));

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Polls /stats until `expected` more events than in `before` are processed; returns the delta. */
async function waitProcessed(url: string, expected: number, before: Stats): Promise<Counters> {
  const target = before.unique_processed + before.duplicate_dropped + expected;
  for (let i = 0; i < 12_000; i++) {
    const s = await getJson<Stats>(`${url}/stats`);
    if (s.queue_depth === 0 && s.unique_processed + s.duplicate_dropped >= target) {
      return {
        received: s.received - before.received,
        unique_processed: s.unique_processed - before.unique_processed,
        duplicate_dropped: s.duplicate_dropped - before.duplicate_dropped,
        queue_depth: s.queue_depth,
      };
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('not processed within 60 s');
}

const w1Bodies = (runId: string): Buffer[] =>
  chunk(makeEvents(20_000, 0.3, runId), 500).map((batch) => Buffer.from(JSON.stringify(batch)));
const w2Bodies = (runId: string): Buffer[] =>
  makeEvents(5_000, 0.2, runId).map((e) => Buffer.from(JSON.stringify(e)));

/** W1 shape: batches over node:http keep-alive, 4 in flight, round-robin over `urls`. */
async function batchRound(urls: readonly string[], runId: string): Promise<Round> {
  return postRound(urls, w1Bodies(runId), { 'content-type': 'application/json' }, '/publish', 202);
}

/** O1: W1's shape as OTLP protobuf exports to /v1/logs (200 = success). */
async function otlpRound(url: string, runId: string): Promise<Round> {
  return postRound(
    [url],
    otlpBodies(runId),
    { 'content-type': 'application/x-protobuf' },
    '/v1/logs',
    200,
  );
}

/** 20,000 events in `bodies`, 4 in flight, timed until /stats shows all of them processed. */
async function postRound(
  urls: readonly string[],
  bodies: readonly Buffer[],
  headers: Record<string, string>,
  path: string,
  okStatus: number,
): Promise<Round> {
  const before = await getJson<Stats>(`${urls[0]}/stats`);
  const t0 = process.hrtime.bigint();
  const load = await sendAll(urls, bodies, 4, headers, path);
  const stats = await waitProcessed(urls[0] as string, 20_000, before);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return {
    endToEnd: 20_000 / seconds,
    ingest: 20_000 / load.seconds,
    p50: percentile(load.latenciesMs, 50),
    p99: percentile(load.latenciesMs, 99),
    unique: stats.unique_processed,
    duplicates: stats.duplicate_dropped,
    failed: Object.entries(load.statuses).filter(([s]) => s !== String(okStatus)).length,
  };
}

/** W2 shape: single events through autocannon, 16 connections. */
async function singleRound(url: string, bodies: readonly Buffer[]): Promise<Round> {
  const before = await getJson<Stats>(`${url}/stats`);
  const t0 = process.hrtime.bigint();
  // Watched from the last response on: autocannon itself resolves only at its next 1 s tick,
  // and polling /stats while the load runs cost W2 9-24 % of its rate (BENCHMARKS.md, "W2,
  // Session 6"); nothing can be processed before it was answered, so nothing is missed.
  let processed: Promise<{ s: Counters; at: bigint }> | undefined;
  const load = await sendAllFast(url, bodies, 16, (accepted) => {
    // Refused requests (a 503, say) are reported as failed, not waited for.
    processed = waitProcessed(url, accepted, before).then((s) => ({
      s,
      at: process.hrtime.bigint(),
    }));
  });
  if (processed === undefined) throw new Error(`W2: ${load.requests} of ${bodies.length} answered`);
  const { s: stats, at } = await processed;
  return {
    endToEnd: (stats.unique_processed + stats.duplicate_dropped) / (Number(at - t0) / 1e9),
    ingest: load.requests / load.seconds,
    p50: load.p50,
    p99: load.p99,
    unique: stats.unique_processed,
    duplicates: stats.duplicate_dropped,
    failed: load.non2xx + load.errors,
  };
}

async function repeat(
  name: string,
  run: (round: number) => Promise<Round>,
): Promise<{ cold: Round; warm: Round; warmed: Round[] }> {
  const all: Round[] = [];
  for (let i = 0; i < rounds; i++) {
    const last = await run(i);
    all.push(last);
    console.error(
      `  ${name} round ${i + 1}/${rounds}: ${describe(last, name === 'W2' ? 'req/s' : 'events/s')}`,
    );
  }
  // Every round after the first (which pays for V8's optimisation), or the only one.
  const warmed = all.length > 1 ? all.slice(1) : all;
  return { cold: all[0] as Round, warm: all.at(-1) as Round, warmed };
}

/** The median end-to-end rate of `rs` (of the middle two when even). */
function medianRate(rs: readonly Round[]): number {
  const xs = rs.map((r) => r.endToEnd).sort((a, b) => a - b);
  const mid = xs.length >> 1;
  return xs.length % 2 === 1 ? (xs[mid] ?? 0) : ((xs[mid - 1] ?? 0) + (xs[mid] ?? 0)) / 2;
}

function describe(r: Round, ingestUnit: string): string {
  return (
    `${Math.round(r.endToEnd)} events/s end to end, ingest ${Math.round(r.ingest)} ${ingestUnit}, ` +
    `p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, unique ${r.unique}, dup ${r.duplicates}` +
    (r.failed > 0 ? `, FAILED ${r.failed}` : '')
  );
}

async function withEmbedded<T>(fn: (server: Running) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'logsieve-bench-'));
  const server = await startAggregator({
    DATA_DIR: dir,
    ...(args.workers ? { WORKERS: args.workers } : {}),
  });
  try {
    return await fn(server);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Preloads `n` unique events of ~4 KiB (topic `heavy`) so that readers have full pages. */
async function preloadHeavy(url: string, n: number): Promise<void> {
  const pad = 'r'.repeat(4 * 1024);
  const bodies = chunk(
    Array.from({ length: n }, (_, i) => ({
      topic: 'heavy',
      event_id: `heavy-${i}`,
      timestamp: '2025-10-24T00:00:00.000Z',
      source: `svc-${i % 7}`,
      payload: { i, pad },
    })),
    500,
  ).map((batch) => Buffer.from(JSON.stringify(batch)));
  const before = await getJson<Stats>(`${url}/stats`);
  await sendAll([url], bodies, 4);
  await waitProcessed(url, n, before);
}

/**
 * `count` readers paging /events with limit=10000 from the start, over and over, until
 * stopped; resolves with the pages they read.
 */
function heavyReaders(url: string, count: number): { stop: () => Promise<number> } {
  let running = true;
  let pages = 0;
  const loops = Array.from({ length: count }, async (_, r) => {
    let after = r * 1_000;
    while (running) {
      const res = await fetch(`${url}/events?limit=10000&after=${after}`);
      const rows = (await res.json()) as { offset: number }[];
      pages++;
      after = rows.at(-1)?.offset ?? 0;
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return pages;
    },
  };
}

const lines: string[] = [];
const report = (line: string): void => {
  lines.push(line);
  console.log(line);
};

if (only.has('ceiling')) {
  const noop = await startNoopServer();
  let fast = { requests: 1, seconds: 1, p50: 0, p99: 0 };
  let slow = { requests: 1, seconds: 1 };
  for (let i = 0; i < rounds; i++) {
    fast = await sendAllFast(noop.url, w2Bodies(`ceiling-${i}`), 16);
    slow = await sendAll(noop.url, w2Bodies(`ceiling-slow-${i}`), 16);
  }
  await noop.stop();
  report(
    `ceiling  do-nothing server, 5,000 single-event requests, 16 concurrent: autocannon ` +
      `${Math.round(fast.requests / fast.seconds)} req/s (p50 ${fast.p50} ms, p99 ${fast.p99} ms); ` +
      `node:http client ${Math.round(slow.requests / slow.seconds)} req/s`,
  );
}

/** W1's warmed rounds, for O1's ratio. */
let w1Warmed: readonly Round[] | null = null;
if (only.has('w1')) {
  await withEmbedded(async (server) => {
    const { cold, warm, warmed } = await repeat('W1', (i) =>
      batchRound([server.url], `w1-${i}-${Date.now()}`),
    );
    w1Warmed = warmed;
    const mem = rssMiB(server.child.pid);
    report(
      `W1       embedded, 20,000 events (30% dup), batches of 500, 4 concurrent: ${describe(warm, 'events/s')}`,
    );
    report(
      `         cold first round: ${describe(cold, 'events/s')}; RSS ${mem.rss} MiB (peak ${mem.peak})`,
    );
  });
}

if (only.has('o1')) {
  await withEmbedded(async (server) => {
    const { cold, warm, warmed } = await repeat('O1', (i) =>
      otlpRound(server.url, `o1-${i}-${Date.now()}`),
    );
    const mem = rssMiB(server.child.pid);
    // Medians of the warmed rounds: one round of each swung the ratio 0.67-0.91 over four
    // runs within three minutes on a quiet machine (BENCHMARKS.md, "O1, session 6").
    const ratio =
      w1Warmed === null
        ? ''
        : `; warmed medians ${Math.round(medianRate(warmed))} against W1 ${Math.round(medianRate(w1Warmed))} = ` +
          `${(medianRate(warmed) / medianRate(w1Warmed)).toFixed(2)}x W1`;
    report(
      `O1       embedded, OTLP protobuf /v1/logs, 20,000 records (30% re-exported), 500 per export, 4 concurrent: ${describe(warm, 'records/s')}${ratio}`,
    );
    report(
      `         cold first round: ${describe(cold, 'records/s')}; RSS ${mem.rss} MiB (peak ${mem.peak})`,
    );
  });
}

if (only.has('w1r')) {
  const readers = Math.max(1, Number(args.readers));
  const heavy = Math.max(1, Number(args['heavy-events']));
  await withEmbedded(async (server) => {
    await preloadHeavy(server.url, heavy);
    const load = heavyReaders(server.url, readers);
    const t0 = Date.now();
    const { cold, warm } = await repeat('W1R', (i) =>
      batchRound([server.url], `w1r-${i}-${Date.now()}`),
    );
    const pages = await load.stop();
    const seconds = (Date.now() - t0) / 1000;
    const mem = rssMiB(server.child.pid);
    report(
      `W1R      W1 beside ${readers} readers of 10,000-row pages (${heavy} stored events of 4 KiB): ${describe(warm, 'events/s')}`,
    );
    report(
      `         readers ${(pages / seconds).toFixed(1)} pages/s; cold first round: ${describe(cold, 'events/s')}; RSS ${mem.rss} MiB (peak ${mem.peak})`,
    );
  });
}

if (only.has('w2')) {
  await withEmbedded(async (server) => {
    const { cold, warm } = await repeat('W2', (i) =>
      singleRound(server.url, w2Bodies(`w2-${i}-${Date.now()}`)),
    );
    const mem = rssMiB(server.child.pid);
    report(
      `W2       embedded, 5,000 single-event requests (20% dup), 16 concurrent: ${describe(warm, 'req/s')}`,
    );
    report(
      `         cold first round: ${describe(cold, 'req/s')}; RSS ${mem.rss} MiB (peak ${mem.peak})`,
    );
  });
}

if (only.has('compare')) {
  if (!natsAvailable()) {
    report('compare  skipped: nats-server is not installed (apt-get install nats-server)');
  } else {
    // Interleaved so that all three see the same machine noise; one warm-up round each first.
    const nats = await startNats();
    let floor: Awaited<ReturnType<typeof startDurableFloorServer>> | undefined;
    const ours: Round[] = [];
    const theirs: NatsRound[] = [];
    const floors: Array<{ rate: number; p99: number }> = [];
    try {
      const started = (floor = await startDurableFloorServer());
      await withEmbedded(async (server) => {
        for (let i = 0; i <= rounds; i++) {
          const events = makeEvents(5_000, 0.2, `cmp-${i}-${Date.now()}`);
          const bodies = events.map((e) => Buffer.from(JSON.stringify(e)));
          const a = await singleRound(server.url, bodies);
          const b = await natsRound(nats, events, 16, `BENCH${i}`);
          // The floor's 202 is its end: nothing is processed after it.
          const f = await sendAllFast(started.url, bodies, 16);
          const c = { rate: f.requests / f.seconds, p99: f.p99 };
          console.error(
            `  compare round ${i}${i === 0 ? ' (warm-up)' : ''}: logsieve ` +
              `${Math.round(a.endToEnd)} req/s p99 ${a.p99.toFixed(1)} ms; JetStream ` +
              `${Math.round(b.rate)} req/s p99 ${b.p99.toFixed(1)} ms, stored ${b.stored}; ` +
              `durable floor ${Math.round(c.rate)} req/s p99 ${c.p99.toFixed(1)} ms` +
              (f.non2xx + f.errors > 0 ? ` (${f.non2xx + f.errors} failed)` : ''),
          );
          if (i === 0) continue;
          ours.push(a);
          theirs.push(b);
          floors.push(c);
        }
      });
    } finally {
      // Each stopped on its own: one failing to stop must not leave the other running.
      await nats.stop().catch((e: unknown) => console.error('stopping nats-server:', e));
      await floor?.stop().catch((e: unknown) => console.error('stopping the floor:', e));
    }
    const median = (xs: number[]): number => percentile(xs, 50);
    const oursRate = median(ours.map((r) => r.endToEnd));
    const theirsRate = median(theirs.map((r) => r.rate));
    const floorRate = median(floors.map((r) => r.rate));
    report(
      `compare  W2, 5,000 single events (20% dup), 16 connections, median of ${rounds}: ` +
        `logsieve ${Math.round(oursRate)} req/s end to end (p99 ${median(ours.map((r) => r.p99)).toFixed(1)} ms, ` +
        `202 after O_DSYNC); NATS JetStream ${Math.round(theirsRate)} req/s ` +
        `(p99 ${median(theirs.map((r) => r.p99)).toFixed(1)} ms, Nats-Msg-Id dedup, ack before fsync); ` +
        `ratio ${(oursRate / theirsRate).toFixed(2)}`,
    );
    report(
      `         durable floor (node:http, JSON.parse, O_DSYNC writes as the queue log's, nothing else): ` +
        `${Math.round(floorRate)} req/s (p99 ${median(floors.map((r) => r.p99)).toFixed(1)} ms); ` +
        `logsieve/floor ${(oursRate / floorRate).toFixed(2)}, floor/JetStream ${(floorRate / theirsRate).toFixed(2)}`,
    );
  }
}

for (const instances of [1, 3]) {
  if (!only.has(`c${instances}`)) continue;
  let cluster;
  try {
    cluster = await startCluster(instances, args.workers ? { WORKERS: args.workers } : {});
  } catch (err) {
    report(`C${instances}       skipped: cluster mode did not start (${(err as Error).message})`);
    continue;
  }
  try {
    const { cold, warm } = await repeat(`C${instances}`, (i) =>
      batchRound(cluster.urls, `c${instances}-${i}-${Date.now()}`),
    );
    const rss = cluster.servers.map((s) => rssMiB(s.child.pid).rss).join('+');
    report(
      `C${instances}       cluster, ${instances} instance(s), W1: ${describe(warm, 'events/s')}`,
    );
    report(`         cold first round: ${describe(cold, 'events/s')}; RSS ${rss} MiB`);
  } finally {
    await cluster.stop();
  }
}

if (args.preload !== undefined) {
  await runGrowth({
    preload: Number(args.preload),
    steadyAge: args['steady-age'] ?? '20s',
    steadySeconds: Number(args['steady-seconds'] ?? '120'),
    steadyControl: args['steady-control'] === true,
    report,
  });
}

console.log(
  `\nmachine: ${process.platform} ${process.arch}, node ${process.version}, rounds ${rounds}`,
);
