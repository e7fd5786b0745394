// Interleaved A/B of the SQLite store's apply path alone, in process (no HTTP, no queue, no
// store thread): W1's mix (30 % duplicates, 4 topics, 7 sources) with random-UUID event ids,
// applied in batches of 2,000 through openSqliteStore(...).applySync on a fresh file. Every
// pass is its own child process per variant, alternating, so load drifting on a shared
// machine hits every variant alike. Reports the thread CPU time per event of the apply loop
// (survives contention better than events/s) and events/s, medians over the passes.
//
// Usage: npm run build && node scripts/apply-ab.mjs PASSES EVENTS NAME=DIR ...
//   DIR holds a build (DIR/dist/src/adapters/sqlite/store.js and DIR/node_modules).
//   SHAPE=o1 makes the events look like what POST /v1/logs stores for bench/otlp.ts's records
//   (a `sha256:` content-hash id, so random dedup keys; a ~280-byte payload; one source per
//   topic) instead of W1's; BATCH=N sets the batch size (default 2,000); ORDERED=1 gives W1's
//   events ids that share their first 8 bytes within a run (`w1-<run>-<i>`, as bench/load.ts
//   makes them) instead of random UUIDs; PRELOAD=N applies N more unique events of the same
//   shape before the timing starts, so the key store is that large (random keys then land on
//   any of its pages, as in a server that has run a while).
// Within a child: one warm-up store of EVENTS events (not reported), then one measured one.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const BATCH = Number(process.env.BATCH ?? 2_000);
const O1 = process.env.SHAPE === 'o1';
const ORDERED = process.env.ORDERED === '1';
const PRELOAD = Number(process.env.PRELOAD ?? 0);

if (process.argv[2] === '--child') {
  const [, , , dir, eventsArg] = process.argv;
  const events = Number(eventsArg);
  const { openSqliteStore } = await import(
    pathToFileURL(join(dir, 'dist/src/adapters/sqlite/store.js')).href
  );
  const topics = ['login', 'order', 'payment', 'app/prod/api'];
  let runs = 0;
  const makeUnique = (uniqueCount) => {
    const unique = [];
    const tag = `${++runs}${Math.random().toString(36).slice(2, 8)}`;
    for (let i = 0; i < uniqueCount; i++) {
      const topic = topics[i % 4];
      const timestamp = new Date(Date.UTC(2025, 9, 24, 0, 0, 0, i)).toISOString();
      unique.push(
        O1
          ? {
              topic,
              event_id: `sha256:${(randomUUID() + randomUUID()).replaceAll('-', '').slice(0, 64)}`,
              timestamp,
              source: `${topic}-1`,
              payload: JSON.stringify({
                body: `${topic} x-${i}`,
                severity_number: 9,
                severity_text: 'INFO',
                attributes: { user: `u${i}`, amount: i, ok: true },
                resource: { 'service.name': topic, 'service.instance.id': `${topic}-1` },
                scope: { name: 'bench', version: '1', attributes: {} },
                time_unix_nano: `${Date.parse(timestamp)}000000`,
              }),
            }
          : {
              topic,
              event_id: ORDERED ? `w1-${tag}-${i}` : randomUUID(),
              timestamp,
              source: `svc-${i % 7}`,
              payload: JSON.stringify({ user: `u${i % 1000}`, amount: i % 997, tags: ['a', 'b'] }),
            },
      );
    }
    return unique;
  };
  const run = () => {
    const uniqueCount = Math.round(events * 0.7);
    const unique = makeUnique(uniqueCount);
    const all = [...unique];
    while (all.length < events) all.push(unique[Math.floor(Math.random() * uniqueCount)]);
    for (let i = all.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [all[i], all[j]] = [all[j], all[i]];
    }
    // Through a JSON round trip: flat strings, as the store thread gets them from
    // postMessage (randomUUID's own result is a cons string that the first use flattens).
    const deliveries = JSON.parse(
      JSON.stringify(all.map((event, i) => ({ id: String(i + 1), event }))),
    );
    const tmp = mkdtempSync(join(tmpdir(), 'apply-ab-'));
    const store = openSqliteStore({ file: join(tmp, 'events.db') });
    if (PRELOAD > 0) {
      const before = JSON.parse(
        JSON.stringify(
          makeUnique(PRELOAD).map((event, i) => ({ id: String(events + i + 1), event })),
        ),
      );
      for (let i = 0; i < before.length; i += BATCH)
        store.applySync(before.slice(i, i + BATCH), new Date());
    }
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    let stored = 0;
    for (let i = 0; i < deliveries.length; i += BATCH) {
      stored += store.applySync(deliveries.slice(i, i + BATCH), new Date()).stored;
    }
    // Closed inside the timing: the last connection's close checkpoints what the WAL still
    // holds, so a run with fewer, later checkpoints is charged for the ones it put off.
    store.close();
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const cpu = process.cpuUsage(cpu0);
    rmSync(tmp, { recursive: true, force: true });
    if (stored !== uniqueCount) throw new Error(`stored ${stored}, expected ${uniqueCount}`);
    return {
      cpuUsPerEvent: (cpu.user + cpu.system) / events,
      eventsPerSec: events / (wallMs / 1000),
    };
  };
  run();
  process.stdout.write(JSON.stringify(run()));
  process.exit(0);
}

const passes = Number(process.argv[2]);
const events = Number(process.argv[3]);
const variants = process.argv.slice(4).map((arg) => {
  const [name, dir] = arg.split('=');
  return { name, dir, results: [] };
});
if (!(passes > 0) || !(events > 0) || variants.length === 0) {
  console.error('usage: node scripts/apply-ab.mjs PASSES EVENTS NAME=DIR ...');
  process.exit(2);
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
for (let p = 0; p < passes; p++) {
  for (const v of variants) {
    const out = execFileSync(
      process.execPath,
      [fileURLToPath(import.meta.url), '--child', v.dir, String(events)],
      { encoding: 'utf8' },
    );
    const r = JSON.parse(out);
    v.results.push(r);
    console.log(
      `pass ${p + 1} ${v.name}: ${r.cpuUsPerEvent.toFixed(2)} us CPU/event, ${Math.round(r.eventsPerSec)} events/s`,
    );
  }
}
for (const v of variants) {
  console.log(
    `${v.name}: median ${median(v.results.map((r) => r.cpuUsPerEvent)).toFixed(2)} us CPU/event, ` +
      `${Math.round(median(v.results.map((r) => r.eventsPerSec)))} events/s (${passes} passes of ${events})`,
  );
}
