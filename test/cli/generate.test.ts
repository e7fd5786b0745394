import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planBatches, type PlannedBatch, type WorkloadOptions } from '../../src/cli/generate.js';
import type { PublishEvent } from '../../src/client/types.js';

const base: WorkloadOptions = {
  count: 20_000,
  dupRatio: 0.3,
  batchSize: 500,
  topics: ['login', 'order', 'app/prod/api'],
  sources: ['checkout-svc', 'auth-svc'],
  seed: 'seven',
  deterministic: true,
};

const key = (e: PublishEvent): string => `${e.topic}\u0000${e.event_id}`;

void test('count includes the copies, and both totals are exact', () => {
  const batches = [...planBatches(base)];
  const events = batches.flatMap((b) => b.events);
  assert.equal(events.length, 20_000);
  assert.equal(new Set(events.map(key)).size, 14_000);
  assert.equal(
    batches.reduce((s, b) => s + b.originals, 0),
    14_000,
  );
  const dups = batches.reduce(
    (s, b) => s + b.duplicates.immediate + b.duplicates.cross_batch + b.duplicates.late,
    0,
  );
  assert.equal(dups, 6_000);
  assert.ok(batches.every((b) => b.events.length <= 500));
});

void test('copies come in all three flavours, each where its name says', () => {
  const batches = [...planBatches(base)];
  const firstBatch = new Map<string, number>();
  const firstPos = new Map<string, number>();
  const seen = { immediate: 0, cross_batch: 0, late: 0 };
  for (const b of batches) {
    b.events.forEach((e, pos) => {
      const k = key(e);
      const origin = firstBatch.get(k);
      if (origin === undefined) {
        firstBatch.set(k, b.index);
        firstPos.set(k, pos);
      } else if (origin === b.index) {
        assert.ok((firstPos.get(k) ?? Infinity) < pos, 'the copy follows the original');
        seen.immediate += 1;
      } else if (origin === b.index - 1) seen.cross_batch += 1;
      else seen.late += 1;
    });
  }
  const planned = batches.reduce(
    (s, b) => ({
      immediate: s.immediate + b.duplicates.immediate,
      cross_batch: s.cross_batch + b.duplicates.cross_batch,
      late: s.late + b.duplicates.late,
    }),
    { immediate: 0, cross_batch: 0, late: 0 },
  );
  // A copy of a copy's key is classified by where the original is, which is what we plan.
  assert.deepEqual(seen, planned);
  for (const n of Object.values(planned)) assert.ok(n > 1_500 && n < 2_500, `flavour ${n}`);
});

void test('a seed fixes events, ids and schedule; another seed changes them', () => {
  const run = (seed: string): PlannedBatch[] => [...planBatches({ ...base, count: 2_000, seed })];
  assert.deepEqual(run('a'), run('a'));
  assert.notDeepEqual(
    run('a').flatMap((b) => b.events.map((e) => e.event_id)),
    run('b').flatMap((b) => b.events.map((e) => e.event_id)),
  );
});

void test('generated events satisfy the event contract', () => {
  const topic = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/;
  const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
  const v7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  for (const b of planBatches({ ...base, count: 3_000 })) {
    for (const e of b.events) {
      assert.deepEqual(Object.keys(e).sort(), [
        'event_id',
        'payload',
        'source',
        'timestamp',
        'topic',
      ]);
      assert.match(e.topic, topic);
      assert.match(e.event_id, v7);
      assert.match(e.timestamp, rfc3339);
      assert.ok(e.source.length > 0 && e.source.length <= 200);
      assert.equal(typeof e.payload, 'object');
      assert.ok(
        Object.values(e.payload).some((v) => typeof v === 'object' && v !== null),
        'nested',
      );
    }
  }
});

void test('without a seed, ids use the real clock', () => {
  const [first] = [...planBatches({ ...base, count: 10, deterministic: false })];
  const id = first?.events[0]?.event_id ?? '';
  const ms = Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16);
  assert.ok(Math.abs(ms - Date.now()) < 60_000);
});

void test('dup-ratio 0 sends only originals; tiny counts still work', () => {
  const none = [...planBatches({ ...base, count: 1_000, dupRatio: 0 })].flatMap((b) => b.events);
  assert.equal(new Set(none.map(key)).size, 1_000);
  const one = [...planBatches({ ...base, count: 1, dupRatio: 0.3 })].flatMap((b) => b.events);
  assert.equal(one.length, 1);
  const two = [...planBatches({ ...base, count: 2, dupRatio: 0.5, batchSize: 1 })];
  assert.equal(two.flatMap((b) => b.events).length, 2);
  assert.equal(
    two.reduce((s, b) => s + b.originals, 0),
    1,
  );
});

void test('without a count the stream does not end', () => {
  const it = planBatches({ ...base, count: Infinity, batchSize: 100 });
  let n = 0;
  for (const b of it) {
    n += b.events.length;
    if (b.index === 49) break;
  }
  assert.equal(n, 5_000);
});
