// Interleaved A/B of W1 (20,000 events, 30 % duplicates, batches of 500, 4 concurrent
// requests) between builds of the server, the W1 counterpart of scripts/w2-ab.mjs: every
// variant runs as its own process for the whole run and the rounds alternate between them,
// so load drifting on a shared machine hits every variant alike. One warm-up round per
// variant is not reported.
//
// Usage: npm run build && node scripts/w1-ab.mjs ROUNDS NAME=DIR[,VAR:VALUE...] ...
//   DIR holds a build (DIR/dist/src/main.js and DIR/node_modules); VAR:VALUE pairs are extra
//   environment for that variant.
// Prints per variant: end-to-end events/s per round (until /stats shows all processed) and
// median, ingest events/s, and the server's CPU time per event from /proc (main thread; the
// rest of the process, i.e. the store thread, reader threads and thread pool; and in all),
// medians. CPU per event survives contention far better than events/s.
import { performance } from 'node:perf_hooks';
import { makeEvents, sendAll } from '../dist/bench/load.js';
import { cpuTicks, interleave, median, processedAt } from './ab-servers.mjs';

const EVENTS = 20_000;
const BATCH = 500;

const results = await interleave(
  process.argv.slice(2),
  'usage: node scripts/w1-ab.mjs ROUNDS NAME=DIR[,VAR:VALUE...] ...',
  'w1ab',
  async ({ url, child, tag, before }) => {
    const target = before.unique_processed + before.duplicate_dropped + EVENTS;
    const events = makeEvents(EVENTS, 0.3, tag);
    const bodies = [];
    for (let i = 0; i < events.length; i += BATCH) {
      bodies.push(Buffer.from(JSON.stringify(events.slice(i, i + BATCH))));
    }
    const cpu0 = cpuTicks(child.pid);
    const started = performance.now();
    const load = await sendAll(url, bodies, 4, { 'content-type': 'application/json' });
    const seconds = ((await processedAt(url, target)) - started) / 1000;
    const cpu1 = cpuTicks(child.pid);
    // ticks of 10 ms -> µs per event
    const main = ((cpu1.main - cpu0.main) * 10_000) / EVENTS;
    const all = ((cpu1.all - cpu0.all) * 10_000) / EVENTS;
    return {
      e2e: Math.round(EVENTS / seconds),
      ingest: Math.round(EVENTS / load.seconds),
      cpuMain: main,
      cpuRest: all - main,
      cpuAll: all,
    };
  },
);
for (const [name, rs] of results) {
  const col = (k) => rs.map((x) => x[k]);
  console.log(
    `${name}: end to end ${col('e2e').join(',')} median ${median(col('e2e'))} events/s | ` +
      `ingest median ${median(col('ingest'))} | CPU µs/event main ${median(col('cpuMain')).toFixed(1)}, ` +
      `other threads ${median(col('cpuRest')).toFixed(1)}, process ${median(col('cpuAll')).toFixed(1)}`,
  );
}
