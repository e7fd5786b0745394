// Interleaved A/B of W2 (5,000 single-event requests, 20 % duplicates, 16 connections) between
// builds of the server, for before/after comparisons on a noisy machine: every variant runs
// as its own process for the whole run, and the rounds alternate between them, so load
// drifting on the machine hits every variant alike. One warm-up round per variant is not
// reported.
//
// Usage: npm run build && node scripts/w2-ab.mjs ROUNDS NAME=DIR[,VAR:VALUE...] ...
//   DIR holds a build (DIR/dist/src/main.js, and DIR/node_modules, a symlink will do), e.g. a
//   copy of dist/ made before a change; VAR:VALUE pairs are extra environment for that
//   variant. PROF=NAME runs that variant under `node --cpu-prof` (profiles in /tmp/prof-NAME).
// Prints per variant: req/s per round and median, end-to-end events/s (until /stats shows all
// processed), client p99 (ms), and the server's CPU time per request from /proc (main thread,
// and the whole process including the store thread and the thread pool), medians.
import { performance } from 'node:perf_hooks';
import { makeEvents, sendAllFast } from '../dist/bench/load.js';
import { cpuTicks, interleave, median, processedAt } from './ab-servers.mjs';

const EVENTS = 5_000;

const results = await interleave(
  process.argv.slice(2),
  'usage: node scripts/w2-ab.mjs ROUNDS NAME=DIR[,VAR:VALUE...] ...',
  'w2ab',
  async ({ url, child, tag, before }) => {
    const target = before.unique_processed + before.duplicate_dropped + EVENTS;
    const bodies = makeEvents(EVENTS, 0.2, tag).map((e) => Buffer.from(JSON.stringify(e)));
    const cpu0 = cpuTicks(child.pid);
    const client0 = process.cpuUsage();
    const started = performance.now();
    // Polled from the last response on (autocannon itself returns only on its 1-second tick):
    // polling while the load runs cost W2 9-24 % of its rate (BENCHMARKS.md, "W2, session 6").
    let processed;
    const r = await sendAllFast(url, bodies, 16, (accepted) => {
      processed = processedAt(url, target - EVENTS + accepted);
    });
    if (processed === undefined) throw new Error(`${r.requests} of ${EVENTS} answered`);
    const endToEnd = EVENTS / (((await processed) - started) / 1000);
    const cpu1 = cpuTicks(child.pid);
    const client = process.cpuUsage(client0);
    return {
      rps: Math.round(r.requests / r.seconds),
      e2e: Math.round(endToEnd),
      p99: r.p99,
      non2xx: r.non2xx,
      // threadTicks units (10 ms) -> µs per request
      cpuMain: ((cpu1.main - cpu0.main) * 10_000) / EVENTS,
      cpuAll: ((cpu1.all - cpu0.all) * 10_000) / EVENTS,
      // The load generator's own CPU (autocannon and the poller, this process): on a 2-core
      // machine it shares the cores with the server.
      cpuClient: (client.user + client.system) / EVENTS,
    };
  },
);
for (const [name, rs] of results) {
  const col = (k) => rs.map((x) => x[k]);
  console.log(
    `${name}: req/s ${col('rps').join(',')} median ${median(col('rps'))} | end to end median ` +
      `${median(col('e2e'))} events/s | p99 ms ${col('p99').join(',')} | non-2xx ` +
      `${col('non2xx').reduce((a, b) => a + b, 0)} | CPU µs/req main ${median(col('cpuMain')).toFixed(1)}, ` +
      `process ${median(col('cpuAll')).toFixed(1)}, load generator ${median(col('cpuClient')).toFixed(1)}`,
  );
}
