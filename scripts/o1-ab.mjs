// Interleaved A/B of O1 next to W1 between builds of the server (issue 11's target: O1
// records/s >= 0.8x W1 events/s). Every variant runs as its own process for the whole run;
// each round sends W1 (20,000 events, 30 % duplicates, JSON batches of 500) and then O1 (the
// same mix as OTLP protobuf exports of 500 records, bench/otlp.ts) to that variant, 4
// concurrent, and the rounds alternate between variants, so load drifting on a shared
// machine hits every variant and both workloads alike. One warm-up round per variant is not
// reported.
//
// Usage: npm run build && node scripts/o1-ab.mjs ROUNDS NAME=DIR[,VAR:VALUE...] ...
// W1H=1 adds a third workload per round, "w1h": W1 exactly, but every event_id replaced by
// `sha256:` + the hex SHA-256 of the original id, the shape of the ids O1's records get. W1's
// own ids (`<run>-<i>`) share their first 8 bytes within a round, so their dedup keys land in
// a few pages of the key index (src/domain/dedup-key.ts); content-hash ids land on random
// pages, as O1's do. It tells how much of the O1/W1 gap is the ids and not the OTLP path.
// Prints per variant and workload: end-to-end rate per round and median, the O1/W1 ratio
// per round (same server, adjacent in time) and its median, and the server's CPU time per
// record from /proc/<pid>/task/*/schedstat: the main thread (HTTP, decode, mapping), the busiest
// other thread (the SQLite store thread), the remaining threads, medians.
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { makeEvents, sendAll } from '../dist/bench/load.js';
import { otlpBodies } from '../dist/bench/otlp.js';
import { interleave, median, processedAt, threadTicks } from './ab-servers.mjs';

const EVENTS = 20_000;
const BATCH = 500;
const WITH_HASHED = process.env.W1H === '1';

/** µs per record on the main thread, the busiest other thread, and the rest. */
function perRecord(pid, t0, t1) {
  const main = String(pid);
  let busiest = 0;
  let rest = 0;
  for (const [tid, ticks] of t1) {
    if (tid === main) continue;
    const d = ticks - (t0.get(tid) ?? 0);
    if (d > busiest) {
      rest += busiest;
      busiest = d;
    } else rest += d;
  }
  const us = (ticks) => (ticks * 10_000) / EVENTS;
  return { main: us(t1.get(main) - t0.get(main)), store: us(busiest), rest: us(rest) };
}

async function run(url, pid, target, bodies, headers, path) {
  const t0 = threadTicks(pid);
  const started = performance.now();
  const load = await sendAll(url, bodies, 4, headers, path);
  const bad = Object.keys(load.statuses).filter((s) => s !== '200' && s !== '202');
  if (bad.length > 0) throw new Error(`statuses ${JSON.stringify(load.statuses)}`);
  const seconds = ((await processedAt(url, target)) - started) / 1000;
  return { e2e: Math.round(EVENTS / seconds), ...perRecord(pid, t0, threadTicks(pid)) };
}

const results = await interleave(
  process.argv.slice(2),
  'usage: node scripts/o1-ab.mjs ROUNDS NAME=DIR[,VAR:VALUE...] ...',
  'o1ab',
  async ({ url, child, tag, before }) => {
    const done = before.unique_processed + before.duplicate_dropped;
    const events = makeEvents(EVENTS, 0.3, tag);
    const w1Bodies = [];
    for (let i = 0; i < events.length; i += BATCH) {
      w1Bodies.push(Buffer.from(JSON.stringify(events.slice(i, i + BATCH))));
    }
    const o1Bodies = otlpBodies(`${tag}-o1`);
    const json = { 'content-type': 'application/json' };
    const w1 = await run(url, child.pid, done + EVENTS, w1Bodies, json, '/publish');
    const proto = { 'content-type': 'application/x-protobuf' };
    const o1 = await run(url, child.pid, done + 2 * EVENTS, o1Bodies, proto, '/v1/logs');
    if (!WITH_HASHED) return { w1, o1, ratio: o1.e2e / w1.e2e };
    const hashed = makeEvents(EVENTS, 0.3, `${tag}-h`).map((e) => ({
      ...e,
      event_id: `sha256:${createHash('sha256').update(e.event_id).digest('hex')}`,
    }));
    const w1hBodies = [];
    for (let i = 0; i < hashed.length; i += BATCH) {
      w1hBodies.push(Buffer.from(JSON.stringify(hashed.slice(i, i + BATCH))));
    }
    const w1h = await run(url, child.pid, done + 3 * EVENTS, w1hBodies, json, '/publish');
    return { w1, o1, w1h, ratio: o1.e2e / w1.e2e, ratioH: o1.e2e / w1h.e2e };
  },
);
for (const [name, rs] of results) {
  const line = (w) => {
    const col = (k) => rs.map((x) => x[w][k]);
    return (
      `${w} ${col('e2e').join(',')} median ${median(col('e2e'))}/s, CPU µs/record main ` +
      `${median(col('main')).toFixed(1)} store ${median(col('store')).toFixed(1)} ` +
      `rest ${median(col('rest')).toFixed(1)}`
    );
  };
  const ratios = rs.map((x) => x.ratio.toFixed(2));
  const hashedPart = WITH_HASHED
    ? ` | ${line('w1h')} | O1/W1H median ${median(rs.map((x) => x.ratioH)).toFixed(2)}`
    : '';
  console.log(
    `${name}: ${line('w1')} | ${line('o1')} | O1/W1 ${ratios.join(',')} median ${median(rs.map((x) => x.ratio)).toFixed(2)}${hashedPart}`,
  );
}
