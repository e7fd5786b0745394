/**
 * `npm run bench`: W1 (batches) and W2 (single events) against the built server in its own
 * process on a fresh data dir, driven from this process, timed until /stats shows every
 * event processed. First measures the load generator against a do-nothing server.
 *
 *   npm run bench                      # embedded, all workloads
 *   npm run bench -- --only w1         # one workload
 *   npm run bench -- --only c1,c3      # cluster mode, 1 and 3 instances (Redis + PostgreSQL)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { getJson, makeEvents, percentile, sendAll, sendAllFast, type LoadResult } from './load.js';
import { startCluster } from './cluster.js';
import { rssMiB, startAggregator, startNoopServer, type Running } from './servers.js';

interface Stats {
  received: number;
  unique_processed: number;
  duplicate_dropped: number;
  queue_depth: number;
}

const { values: args } = parseArgs({
  options: {
    only: { type: 'string', default: 'ceiling,w1,w2,c1,c3' },
    workers: { type: 'string' },
    'no-warmup': { type: 'boolean', default: false },
  },
});
const only = new Set((args.only ?? '').split(','));

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Polls /stats until `expected` more events than in `before` are processed; returns the delta. */
async function waitProcessed(url: string, expected: number, before?: Stats): Promise<Stats> {
  const base = before ?? { received: 0, unique_processed: 0, duplicate_dropped: 0, queue_depth: 0 };
  const target = base.unique_processed + base.duplicate_dropped + expected;
  for (let i = 0; i < 6000; i++) {
    const s = await getJson<Stats>(`${url}/stats`);
    if (s.queue_depth === 0 && s.unique_processed + s.duplicate_dropped >= target) {
      return {
        received: s.received - base.received,
        unique_processed: s.unique_processed - base.unique_processed,
        duplicate_dropped: s.duplicate_dropped - base.duplicate_dropped,
        queue_depth: s.queue_depth,
      };
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('not processed within 30 s');
}

/**
 * A fresh process runs its first requests through cold, unoptimised code (the first 5,000
 * single-event requests go at roughly half speed). Unless --no-warmup is given, each workload
 * runs once with other ids before the timed run, and the figures are the timed run's.
 */
async function warmUp(run: () => Promise<unknown>): Promise<void> {
  if (args['no-warmup'] !== true) await run();
}

async function withServer<T>(fn: (server: Running) => Promise<T>): Promise<T> {
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

function latency(r: LoadResult): string {
  return `p50 ${percentile(r.latenciesMs, 50).toFixed(2)} ms, p99 ${percentile(r.latenciesMs, 99).toFixed(2)} ms`;
}

const rows: string[] = [];
const report = (line: string): void => {
  rows.push(line);
  console.log(line);
};

const singleBodies = (runId: string): Buffer[] =>
  makeEvents(5_000, 0.2, runId).map((e) => Buffer.from(JSON.stringify(e)));

if (only.has('ceiling')) {
  const noop = await startNoopServer();
  await warmUp(() => sendAllFast(noop.url, singleBodies('ceiling-warm'), 16));
  const slow = await sendAll(noop.url, singleBodies('ceiling'), 16);
  const fast = await sendAllFast(noop.url, singleBodies('ceiling'), 16);
  await noop.stop();
  report(
    `ceiling  do-nothing server, 5,000 single-event requests, 16 concurrent: ` +
      `autocannon ${Math.round(fast.requests / fast.seconds)} req/s (p50 ${fast.p50} ms, p99 ${fast.p99} ms); ` +
      `node:http client ${Math.round(slow.requests / slow.seconds)} req/s`,
  );
}

if (only.has('w1')) {
  const w1Bodies = (runId: string): Buffer[] =>
    chunk(makeEvents(20_000, 0.3, runId), 500).map((batch) => Buffer.from(JSON.stringify(batch)));
  await withServer(async (server) => {
    await warmUp(async () => {
      await sendAll(server.url, w1Bodies(`w1-warm-${Date.now()}`), 4);
      await waitProcessed(server.url, 20_000);
    });
    const events = { length: 20_000 };
    const bodies = w1Bodies(`w1-${Date.now()}`);
    const before = await getJson<Stats>(`${server.url}/stats`);
    const t0 = process.hrtime.bigint();
    const load = await sendAll(server.url, bodies, 4);
    const stats = await waitProcessed(server.url, events.length, before);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const mem = rssMiB(server.child.pid);
    report(
      `W1       20,000 events (30% dup), batches of 500, 4 concurrent: ` +
        `${Math.round(events.length / seconds)} events/s end to end ` +
        `(ingest ${Math.round(events.length / load.seconds)} events/s, ${latency(load)}); ` +
        `unique ${stats.unique_processed}, dup ${stats.duplicate_dropped}; RSS ${mem.rss} MiB (peak ${mem.peak})`,
    );
  });
}

if (only.has('w2')) {
  await withServer(async (server) => {
    await warmUp(async () => {
      await sendAllFast(server.url, singleBodies(`w2-warm-${Date.now()}`), 16);
      await waitProcessed(server.url, 5_000);
    });
    const bodies = singleBodies(`w2-${Date.now()}`);
    const before = await getJson<Stats>(`${server.url}/stats`);
    const t0 = process.hrtime.bigint();
    // Processing is watched while sending: autocannon resolves only at its next 1 s tick.
    const processed = waitProcessed(server.url, bodies.length, before).then((s) => ({
      s,
      at: process.hrtime.bigint(),
    }));
    const load = await sendAllFast(server.url, bodies, 16);
    const { s: stats, at } = await processed;
    const seconds = Number(at - t0) / 1e9;
    const mem = rssMiB(server.child.pid);
    report(
      `W2       5,000 single-event requests (20% dup), 16 concurrent: ` +
        `${Math.round(load.requests / load.seconds)} req/s, p50 ${load.p50} ms, p99 ${load.p99} ms; ` +
        `end to end ${Math.round(bodies.length / seconds)} events/s; ` +
        `unique ${stats.unique_processed}, dup ${stats.duplicate_dropped}; RSS ${mem.rss} MiB (peak ${mem.peak})` +
        (load.non2xx + load.errors > 0 ? `; non-2xx ${load.non2xx}, errors ${load.errors}` : ''),
    );
  });
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
    const events = makeEvents(20_000, 0.3, `c${instances}-${Date.now()}`);
    const bodies = chunk(events, 500).map((batch) => Buffer.from(JSON.stringify(batch)));
    const t0 = process.hrtime.bigint();
    const load = await sendAll(cluster.urls, bodies, 4);
    const stats = await waitProcessed(cluster.urls[0] as string, events.length);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const rss = cluster.servers.map((s) => rssMiB(s.child.pid).rss).join('+');
    report(
      `C${instances}       W1 on ${instances} cluster instance(s) (Redis Streams + PostgreSQL): ` +
        `${Math.round(events.length / seconds)} events/s end to end ` +
        `(ingest ${Math.round(events.length / load.seconds)} events/s, ${latency(load)}); ` +
        `unique ${stats.unique_processed}, dup ${stats.duplicate_dropped}; RSS ${rss} MiB`,
    );
  } finally {
    await cluster.stop();
  }
}

console.log(`\nmachine: ${process.platform} ${process.arch}, node ${process.version}`);
