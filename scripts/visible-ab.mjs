// Interleaved A/B of how soon a burst becomes visible: per round, one request of 1 event and
// one of 200 (both fewer than BATCH_MAX, so the consumer's linger applies), each timed from
// its 202 to /stats counting every event processed (polled without pause). This is the wait
// a reader sees after the last request of a burst, which W1 and W2 hide in their totals.
//
// Usage: npm run build && node scripts/visible-ab.mjs ROUNDS NAME=DIR[,VAR:VALUE...] ...
//   (variants as in w2-ab.mjs; one warm-up round per variant is not reported)
// Prints per variant and request size: milliseconds from 202 to processed, median and all.
import { performance } from 'node:perf_hooks';
import { interleave, median, stats } from './ab-servers.mjs';

const { fetch } = globalThis;
const SIZES = [1, 200];

async function visibleAfter(url, tag, size, before) {
  const events = Array.from({ length: size }, (_, i) => ({
    topic: 'visible',
    event_id: `${tag}-${size}-${i}`,
    timestamp: new Date().toISOString(),
    source: 'visible-ab',
    payload: { i },
  }));
  const res = await fetch(`${url}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(events),
  });
  await res.text();
  if (res.status !== 202) throw new Error(`${url}: publish answered ${res.status}`);
  const answered = performance.now();
  const target = before + size;
  while (performance.now() - answered < 60_000) {
    const s = await stats(url);
    if (s.unique_processed + s.duplicate_dropped >= target) return performance.now() - answered;
  }
  throw new Error(`${url}: ${size} event(s) not processed within 60 s of their 202`);
}

const results = await interleave(
  process.argv.slice(2),
  'usage: node scripts/visible-ab.mjs ROUNDS NAME=DIR[,VAR:VALUE...] ...',
  'visab',
  async ({ url, tag, before }) => {
    let done = before.unique_processed + before.duplicate_dropped;
    const kept = {};
    for (const size of SIZES) {
      kept[size] = await visibleAfter(url, tag, size, done);
      done += size;
    }
    return kept;
  },
);
for (const [name, rs] of results) {
  for (const size of SIZES) {
    const ms = rs.map((r) => r[size]);
    console.log(
      `${name}: ${size} event(s), 202 to processed in /stats: median ${median(ms).toFixed(1)} ms ` +
        `(${ms.map((x) => x.toFixed(1)).join(', ')})`,
    );
  }
}
