// The queue log alone, between builds: 16 concurrent single-event enqueues (CONC=N to
// change), 5,000 per round, no consumer, each build's own openLogQueue on a fresh directory
// per round, rounds interleaved, one warm-up round per build not kept. Prints enqueue/s per
// round and the medians of rate, p50 and p99 enqueue latency. For write-path changes
// (writer.ts) that W2 cannot show on a CPU-saturated machine.
//
// Usage: npm run build && node scripts/queue-ab.mjs ROUNDS NAME=DIR ...   (DIR/dist built)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
const rounds = Number(process.argv[2]);
const vs = process.argv.slice(3).map((a) => a.split('='));
const mods = {};
for (const [n, d] of vs)
  mods[n] = await import(pathToFileURL(resolve(d, 'dist/src/adapters/log/queue.js')).href);
const res = Object.fromEntries(vs.map(([n]) => [n, []]));
const ev = (i) => ({
  topic: 'order',
  event_id: `e-${i}`,
  timestamp: '2025-10-24T00:00:00.000Z',
  source: 'svc-1',
  payload: JSON.stringify({ user: `u${i % 1000}`, amount: i % 997, tags: ['a', 'b'], ok: true }),
});
for (let r = -1; r < rounds; r++) {
  for (const [n] of vs) {
    const dir = mkdtempSync(join(tmpdir(), 'qb-'));
    const q = await mods[n].openLogQueue({
      dir,
      queueMax: 1e7,
      log: pino({ level: 'silent' }),
      isApplied: () => false,
    });
    await sleep(50);
    const N = 5000;
    let i = 0;
    const lat = [];
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: Number(process.env.CONC ?? 16) }, async () => {
        while (i < N) {
          const k = i++;
          const s = performance.now();
          await q.enqueue([ev(k)]);
          lat.push(performance.now() - s);
        }
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    await q.close();
    rmSync(dir, { recursive: true, force: true });
    lat.sort((a, b) => a - b);
    if (r >= 0) res[n].push({ rps: N / secs, p50: lat[N >> 1], p99: lat[Math.floor(N * 0.99)] });
  }
}
const med = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
};
for (const [n, rs] of Object.entries(res))
  console.log(
    n,
    'enqueue/s',
    rs.map((x) => Math.round(x.rps)).join(','),
    'median',
    Math.round(med(rs.map((x) => x.rps))),
    '| p50 ms',
    med(rs.map((x) => x.p50)).toFixed(2),
    '| p99 ms',
    med(rs.map((x) => x.p99)).toFixed(2),
  );
