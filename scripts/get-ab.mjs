// Interleaved A/B of GET /events/:topic/:event_id between builds of the server (BENCHMARKS
// "GET by id"): per round and build, a fresh server and data dir, 45,000 events in one topic
// (all of their keys still held in memory by the store thread), then 16 connections for 4 s
// asking for an id that is not stored, then for the newest event. Prints req/s per round and
// the medians.
//
// Usage: npm run build && node scripts/get-ab.mjs ROUNDS NAME=DIR ...
//   DIR holds a build (DIR/dist/src/main.js, and DIR/node_modules, a symlink will do).
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const { fetch } = globalThis;

const rounds = Number(process.argv[2]);
const builds = process.argv.slice(3).map((arg) => arg.split('='));
const EVENTS = 45_000;
const PORT = 18_090;
const events = Array.from({ length: EVENTS }, (_, i) => ({
  topic: 'hot',
  event_id: `e${String(i).padStart(7, '0')}`,
  timestamp: '2026-12-04T00:00:00Z',
  source: 's',
  payload: { i, text: 'x'.repeat(100) },
}));

async function round(dir) {
  const data = join(tmpdir(), 'logsieve-get-ab');
  rmSync(data, { recursive: true, force: true });
  const child = spawn(process.execPath, [join(dir, 'dist/src/main.js')], {
    env: { ...process.env, DATA_DIR: data, PORT: String(PORT), LOG_LEVEL: 'warn' },
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${PORT}`;
  for (;;) {
    const up = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    await sleep(100);
  }
  for (let i = 0; i < EVENTS; i += 1000) {
    await fetch(`${url}/publish?wait=true`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(events.slice(i, i + 1000)),
    });
  }
  const out = {};
  for (const [name, id] of [
    ['unknown', 'nope'],
    ['newest', events.at(-1).event_id],
  ]) {
    let n = 0;
    const end = Date.now() + 4000;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (Date.now() < end) {
          await (await fetch(`${url}/events/hot/${id}`)).arrayBuffer();
          n++;
        }
      }),
    );
    out[name] = Math.round(n / 4);
  }
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  rmSync(data, { recursive: true, force: true });
  return out;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = Object.fromEntries(builds.map(([name]) => [name, []]));
for (let r = 0; r < rounds; r++) {
  for (const [name, dir] of builds) {
    const o = await round(dir);
    results[name].push(o);
    console.log(r, name, JSON.stringify(o));
  }
}
for (const [name, rs] of Object.entries(results)) {
  console.log(
    `${name}: median req/s, unknown id ${median(rs.map((o) => o.unknown))}, newest ${median(rs.map((o) => o.newest))}`,
  );
}
