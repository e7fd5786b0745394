// Interleaved A/B of the SQLite store's work per event under steady expiry, in process (no
// HTTP, no queue, no store thread): what the store thread does in a steady run with a short
// RETENTION_MAX_AGE, with the clock simulated so nothing waits. W1's mix (30 % duplicates,
// 4 topics, 7 sources, random-UUID ids) applied in batches of 2,000, the clock advancing
// 50 ms per batch (40,000 events/s); after each batch, expiry steps until none is due, as
// the retention loop would run them. A warm-up fills the retention window and goes on until
// expiry removes as much as is applied; then the measured part (200,000 events). Every pass is a child
// process per variant and mode, alternating, so load drifting on a shared machine hits all
// alike. Reports the thread CPU time per event (apply + expiry) with RETENTION_MAX_AGE=5s
// and without retention, and their ratio: the steady target is ingest >= 0.8x of the rate
// without expiry, i.e. a ratio <= 1.25 for the store thread.
//
// Usage: npm run build && node scripts/expiry-ab.mjs PASSES NAME=DIR ...
//   DIR holds a build (DIR/dist/src/adapters/sqlite/store.js and DIR/node_modules).
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const BATCH = 2_000;
const STEP_MS = 50;
const MAX_AGE_MS = 5_000;
/** Warm-up: the retention window and a quarter more (expiry at full pace by its end). */
const WARM_EVENTS = 1.25 * (MAX_AGE_MS / STEP_MS) * BATCH;
const MEASURED_EVENTS = 200_000;

if (process.argv[2] === '--child') {
  const [, , , dir, mode] = process.argv;
  const { openSqliteStore } = await import(
    pathToFileURL(join(dir, 'dist/src/adapters/sqlite/store.js')).href
  );
  const topics = ['login', 'order', 'payment', 'app/prod/api'];
  let seq = 0;
  const batch = () => {
    const unique = [];
    const uniqueCount = Math.round(BATCH * 0.7);
    for (let i = 0; i < uniqueCount; i++) {
      unique.push({
        topic: topics[i % 4],
        event_id: randomUUID(),
        timestamp: new Date(Date.UTC(2025, 9, 24, 0, 0, 0, i)).toISOString(),
        source: `svc-${i % 7}`,
        payload: JSON.stringify({ user: `u${i % 1000}`, amount: i % 997, tags: ['a', 'b'] }),
      });
    }
    const all = [...unique];
    while (all.length < BATCH) all.push(unique[Math.floor(Math.random() * uniqueCount)]);
    return JSON.parse(JSON.stringify(all.map((event) => ({ id: String(++seq), event }))));
  };
  const retention =
    mode === 'expiry'
      ? { maxAgeMs: MAX_AGE_MS, maxBytes: null, dedupWindowMs: null }
      : { maxAgeMs: null, maxBytes: null, dedupWindowMs: null };
  const tmp = mkdtempSync(join(tmpdir(), 'expiry-ab-'));
  const store = openSqliteStore({ file: join(tmp, 'events.db'), retention });
  let now = Date.UTC(2026, 2, 1);
  let expired = 0;
  const round = (batches) => {
    for (const deliveries of batches) {
      now += STEP_MS;
      store.applySync(deliveries, new Date(now));
      if (mode === 'expiry') {
        for (let s = 0; s < 1_000; s++) {
          const step = store.expireSync(new Date(now));
          expired += step.expired;
          if (!step.more) break;
        }
      }
    }
  };
  const batches = (events) => Array.from({ length: events / BATCH }, batch);
  round(batches(WARM_EVENTS));
  // The measured batches are built before the measured CPU time: it is the store's alone.
  const measured = batches(MEASURED_EVENTS);
  const expiredBefore = expired;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  round(measured);
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  const c = store.countersNow();
  await store.close();
  rmSync(tmp, { recursive: true, force: true });
  process.stdout.write(
    JSON.stringify({
      cpuUsPerEvent: (cpu.user + cpu.system) / MEASURED_EVENTS,
      eventsPerSec: MEASURED_EVENTS / (wallMs / 1000),
      expiredPerEvent: (expired - expiredBefore) / MEASURED_EVENTS,
      stored: c.stored,
    }),
  );
  process.exit(0);
}

const passes = Number(process.argv[2]);
const variants = process.argv.slice(3).map((arg) => {
  const [name, dir] = arg.split('=');
  return { name, dir, results: { none: [], expiry: [] } };
});
if (!(passes > 0) || variants.length === 0) {
  console.error('usage: node scripts/expiry-ab.mjs PASSES NAME=DIR ...');
  process.exit(2);
}
const self = fileURLToPath(import.meta.url);
for (let p = 0; p < passes; p++) {
  for (const mode of ['none', 'expiry']) {
    for (const v of variants) {
      const out = execFileSync(process.execPath, [self, '--child', v.dir, mode], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const r = JSON.parse(out);
      v.results[mode].push(r);
      console.error(
        `pass ${p + 1} ${v.name} ${mode}: ${r.cpuUsPerEvent.toFixed(2)} µs/event, ` +
          `${Math.round(r.eventsPerSec)} events/s, expired/event ${r.expiredPerEvent.toFixed(2)}, stored ${r.stored}`,
      );
    }
  }
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
for (const v of variants) {
  const none = median(v.results.none.map((r) => r.cpuUsPerEvent));
  const exp = median(v.results.expiry.map((r) => r.cpuUsPerEvent));
  console.log(
    `${v.name}: CPU µs/event without retention ${none.toFixed(2)}, with RETENTION_MAX_AGE=5s ` +
      `${exp.toFixed(2)} (${(exp / none).toFixed(2)}x; events/s ratio ${(none / exp).toFixed(2)}); ` +
      `events/s medians ${Math.round(median(v.results.none.map((r) => r.eventsPerSec)))} / ` +
      `${Math.round(median(v.results.expiry.map((r) => r.eventsPerSec)))}`,
  );
}
