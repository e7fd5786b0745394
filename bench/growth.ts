/**
 * `npm run bench -- --preload N`: how the embedded store behaves once it is big, in one run.
 *
 *   preload   N unique events with random UUID v4 ids (the worst case for the dedup index:
 *             no locality) written through the store's own apply path in-process (batches of
 *             5,000, no HTTP), then the store is closed;
 *   start     start-to-healthy of a server on that store, and its RSS;
 *   W1 full   the W1 round (20,000 events, 30 % dup, batches of 500, 4 concurrent) against
 *             the full store, and against an empty one, as a ratio (target >= 0.8);
 *   reads     /events?topic=…&after=<random>&limit=100, 1,000 requests one at a time: p50, p99
 *             (target p99 < 20 ms);
 *   steady    a fresh server with RETENTION_MAX_AGE=--steady-age (default 20s) under a
 *             W1-shaped load for --steady-seconds (default 120): ingest rate and data-dir size
 *             per 10 s window; the size should stop growing once expiry runs, and ingest
 *             should stay >= 0.8 x the first window. Also the server's CPU time per event in
 *             each window (from /proc, main thread and the rest of the process: the store
 *             thread mostly), which a machine shared with other work skews far less than
 *             events/s: expiry's cost shows as the later windows' CPU per event against the
 *             first window's (no expiry yet).
 *   control   with --steady-control, the same steady load again without retention, and the
 *             two runs compared window by window: the target is ingest under expiry >= 0.8 x
 *             the rate WITHOUT expiry, and the first window is no stand-in for that rate,
 *             because the store's cost per event rises as it grows with or without expiry
 *             (BENCHMARKS "Growth and retention", session 4).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../src/adapters/sqlite/store.js';
import type { Delivery } from '../src/ports/queue.js';
import { getJson, makeEvents, percentile, sendAll } from './load.js';
import { rssMiB, startAggregator, type Running } from './servers.js';

interface Stats {
  received: number;
  unique_processed: number;
  duplicate_dropped: number;
  queue_depth: number;
  stored: number;
}

export interface GrowthOptions {
  readonly preload: number;
  readonly steadyAge: string;
  readonly steadySeconds: number;
  /** Also run the steady load without retention and compare (see the header). */
  readonly steadyControl?: boolean;
  readonly report: (line: string) => void;
}

const TOPICS = ['login', 'order', 'payment', 'app/prod/api'];

/** Writes `n` unique events straight into the store at `file`; returns events per second. */
function preload(file: string, n: number): number {
  const store = openSqliteStore({ file });
  const started = process.hrtime.bigint();
  const at = new Date();
  let seq = 0;
  const BATCH = 5_000;
  for (let done = 0; done < n; done += BATCH) {
    const deliveries: Delivery[] = [];
    for (let i = 0; i < Math.min(BATCH, n - done); i++) {
      const k = done + i;
      deliveries.push({
        id: String(++seq),
        event: {
          topic: TOPICS[k % TOPICS.length] as string,
          event_id: randomUUID(),
          timestamp: new Date(Date.UTC(2025, 9, 24, 0, 0, 0, k % 86_400_000)).toISOString(),
          source: `svc-${k % 7}`,
          payload: `{"user":"u${k % 1000}","amount":${k % 997},"tags":["a","b"],"ok":true}`,
        },
      });
    }
    store.applySync(deliveries, at);
    if ((done / BATCH) % 100 === 0)
      console.error(`  preload ${done.toLocaleString()} / ${n.toLocaleString()}`);
  }
  store.checkpoint();
  void store.close();
  return n / (Number(process.hrtime.bigint() - started) / 1e9);
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    total += st.isDirectory() ? dirBytes(path) : st.size;
  }
  return total;
}

function fileBytes(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

const MiB = (b: number): string => (b / 2 ** 20).toFixed(1);

/** utime + stime in clock ticks (1/100 s) of process `pid` and of its main thread (Linux). */
function cpuTicks(pid: number | undefined): { all: number; main: number } {
  const ticks = (path: string): number => {
    try {
      const fields = (readFileSync(path, 'utf8').split(') ')[1] ?? '').split(' ');
      return Number(fields[11]) + Number(fields[12]);
    } catch {
      return 0;
    }
  };
  return { all: ticks(`/proc/${pid}/stat`), main: ticks(`/proc/${pid}/task/${pid}/stat`) };
}

const medianOf = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};

async function waitProcessed(url: string, target: number): Promise<void> {
  for (let i = 0; i < 60_000; i++) {
    const s = await getJson<Stats>(`${url}/stats`);
    if (s.queue_depth === 0 && s.unique_processed + s.duplicate_dropped >= target) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('not processed in time');
}

/** One W1 round (as bench/run.ts); returns end-to-end events per second. */
async function w1(url: string, runId: string): Promise<number> {
  const events = makeEvents(20_000, 0.3, runId);
  const bodies: Buffer[] = [];
  for (let i = 0; i < events.length; i += 500) {
    bodies.push(Buffer.from(JSON.stringify(events.slice(i, i + 500))));
  }
  const before = await getJson<Stats>(`${url}/stats`);
  const t0 = process.hrtime.bigint();
  await sendAll(url, bodies, 4);
  await waitProcessed(url, before.unique_processed + before.duplicate_dropped + 20_000);
  return 20_000 / (Number(process.hrtime.bigint() - t0) / 1e9);
}

async function bestOf(rounds: number, url: string, label: string): Promise<number> {
  let best = 0;
  for (let i = 0; i < rounds; i++)
    best = Math.max(best, await w1(url, `${label}-${i}-${Date.now()}`));
  return best;
}

async function timedStart(env: Record<string, string>): Promise<{ server: Running; ms: number }> {
  const t0 = process.hrtime.bigint();
  const server = await startAggregator(env);
  return { server, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

export async function runGrowth(opts: GrowthOptions): Promise<void> {
  const { report } = opts;
  const full = mkdtempSync(join(tmpdir(), 'logsieve-growth-'));
  const empty = mkdtempSync(join(tmpdir(), 'logsieve-growth-empty-'));
  try {
    const rate = preload(join(full, 'events.db'), opts.preload);
    report(
      `growth   preload ${opts.preload.toLocaleString()} events (random UUID ids) at ${Math.round(rate)} events/s; ` +
        `data dir ${MiB(dirBytes(full))} MiB`,
    );

    const started = await timedStart({ DATA_DIR: full });
    const afterStart = rssMiB(started.server.child.pid);
    let fullRate: number;
    let reads: number[];
    try {
      fullRate = await bestOf(3, started.server.url, 'full');
      const stats = await getJson<Stats>(`${started.server.url}/stats`);
      reads = [];
      for (let i = 0; i < 1_000; i++) {
        const after = Math.floor(Math.random() * stats.unique_processed);
        const topic = TOPICS[i % TOPICS.length] as string;
        const t0 = process.hrtime.bigint();
        const res = await fetch(
          `${started.server.url}/events?topic=${encodeURIComponent(topic)}&after=${after}&limit=100`,
        );
        await res.arrayBuffer();
        reads.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    } finally {
      await started.server.stop();
    }
    const afterLoad = rssMiB(started.server.child.pid);
    const fresh = await timedStart({ DATA_DIR: empty });
    let emptyRate: number;
    try {
      emptyRate = await bestOf(3, fresh.server.url, 'empty');
    } finally {
      await fresh.server.stop();
    }
    report(
      `         start-to-healthy ${started.ms.toFixed(0)} ms (empty store ${fresh.ms.toFixed(0)} ms); ` +
        `RSS after start ${afterStart.rss} MiB` +
        (afterLoad.peak > 0 ? `, peak ${afterLoad.peak} MiB` : ''),
    );
    report(
      `         W1 on the full store ${Math.round(fullRate)} events/s vs empty ${Math.round(emptyRate)} ` +
        `events/s: ${(fullRate / emptyRate).toFixed(2)}x (best of 3 rounds each)`,
    );
    report(
      `         /events?topic&after=<random>&limit=100: p50 ${percentile(reads, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(reads, 99).toFixed(1)} ms (1,000 sequential requests)`,
    );
  } finally {
    rmSync(full, { recursive: true, force: true });
    rmSync(empty, { recursive: true, force: true });
  }
  const withExpiry = await steady(opts, opts.steadyAge);
  if (opts.steadyControl !== true) return;
  const without = await steady(opts, 'forever');
  const n = Math.min(withExpiry.length, without.length);
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  for (let i = 2; i < n; i++) {
    const a = withExpiry[i];
    const b = without[i];
    if (a === undefined || b === undefined) continue;
    ratios.push(a.rate / b.rate);
    cpuRatios.push((b.cpuMain + b.cpuRest) / (a.cpuMain + a.cpuRest));
  }
  if (ratios.length > 0) {
    report(
      `control  windows 3+ under RETENTION_MAX_AGE=${opts.steadyAge} vs the same windows without ` +
        `retention: ingest ratio median ${medianOf(ratios).toFixed(2)}x (lowest ${Math.min(...ratios).toFixed(2)}x), ` +
        `events per CPU second ratio median ${medianOf(cpuRatios).toFixed(2)}x (target >= 0.8x)`,
    );
  }
}

interface Window {
  rate: number;
  bytes: number;
  stored: number;
  cpuMain: number;
  cpuRest: number;
}

/** Steady W1-shaped load with a short RETENTION_MAX_AGE: does the data dir plateau? */
async function steady(opts: GrowthOptions, age: string): Promise<Window[]> {
  const dir = mkdtempSync(join(tmpdir(), 'logsieve-steady-'));
  const server = await startAggregator({ DATA_DIR: dir, RETENTION_MAX_AGE: age });
  try {
    const windows: Window[] = [];
    const until = Date.now() + opts.steadySeconds * 1000;
    let round = 0;
    while (Date.now() < until) {
      const windowEnd = Math.min(until, Date.now() + 10_000);
      let sent = 0;
      const cpu0 = cpuTicks(server.child.pid);
      const t0 = process.hrtime.bigint();
      while (Date.now() < windowEnd) {
        await w1(server.url, `steady-${round++}`);
        sent += 20_000;
      }
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu1 = cpuTicks(server.child.pid);
      // ticks of 10 ms -> µs per event
      const cpuMain = ((cpu1.main - cpu0.main) * 10_000) / sent;
      const cpuRest = ((cpu1.all - cpu0.all) * 10_000) / sent - cpuMain;
      const s = await getJson<Stats>(`${server.url}/stats`);
      windows.push({
        rate: sent / seconds,
        bytes: dirBytes(dir),
        stored: s.stored,
        cpuMain,
        cpuRest,
      });
      const files = ['events.db', 'events.db-wal']
        .map((f) => `${f} ${MiB(fileBytes(join(dir, f)))}`)
        .join(', ');
      console.error(
        `  steady window ${windows.length}: ${Math.round(sent / seconds)} events/s, data dir ${MiB(dirBytes(dir))} MiB (${files}, queue ${MiB(dirBytes(join(dir, 'queue')))}), stored ${s.stored}, ` +
          `CPU µs/event main ${cpuMain.toFixed(1)} other threads ${cpuRest.toFixed(1)}`,
      );
    }
    const first = windows[0];
    const cut = Math.max(1, Math.floor(windows.length / 2));
    const half = windows.slice(cut);
    const minRate = Math.min(...windows.map((w) => w.rate));
    const firstHalfMax = Math.max(...windows.slice(0, cut).map((w) => w.bytes));
    const secondHalfMax = half.length > 0 ? Math.max(...half.map((w) => w.bytes)) : firstHalfMax;
    opts.report(
      `steady   RETENTION_MAX_AGE=${age}, W1-shaped load for ${opts.steadySeconds} s: ingest ` +
        `${Math.round(first?.rate ?? 0)} events/s in the first 10 s, lowest window ${Math.round(minRate)} ` +
        `(${(minRate / (first?.rate ?? 1)).toFixed(2)}x the first window, which starts on an empty store); data dir max ${MiB(firstHalfMax)} MiB in the first ` +
        `half, ${MiB(secondHalfMax)} MiB in the second; stored at the end ${windows.at(-1)?.stored ?? 0}`,
    );
    // Windows from the third on: expiry has run for at least one of them once age <= 20 s.
    const later = windows.slice(2);
    if (first !== undefined && later.length > 0) {
      const rest = medianOf(later.map((w) => w.cpuRest));
      const main = medianOf(later.map((w) => w.cpuMain));
      opts.report(
        `         CPU µs/event, first window: main ${first.cpuMain.toFixed(1)}, other threads ` +
          `${first.cpuRest.toFixed(1)}; windows 3+ (median): main ${main.toFixed(1)}, other threads ` +
          `${rest.toFixed(1)} (${((first.cpuMain + first.cpuRest) / (main + rest)).toFixed(2)}x ` +
          `the first window's events per CPU second)`,
      );
    }
    return windows;
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
