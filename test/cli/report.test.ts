import { test } from 'node:test';
import assert from 'node:assert/strict';
import { percentile, verify } from '../../src/cli/report.js';

void test('percentile is nearest-rank', () => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i);
  assert.equal(percentile(xs, 50), 50);
  assert.equal(percentile(xs, 99), 99);
  assert.equal(percentile(xs, 100), 100);
  assert.equal(percentile([], 50), 0);
  assert.equal(percentile([7], 99), 7);
});

const ok = {
  delta: { received: 100, unique_processed: 70, duplicate_dropped: 30 },
  beforeReadable: true,
  drained: true,
  accepted: 100,
  uniqueSent: 70,
  duplicatesSent: 30,
  maybeRedelivered: 0,
  failedBatches: 0,
};

void test('verification passes when the deltas match what was sent', () => {
  assert.deepEqual(verify(ok), { checked: true, ok: true, problems: [] });
});

void test('a lost or double-stored event fails verification', () => {
  const lost = verify({ ...ok, delta: { ...ok.delta, unique_processed: 69, received: 99 } });
  assert.equal(lost.ok, false);
  assert.ok(lost.problems.some((p) => p.includes('unique delta 69')));
  const extraDup = verify({ ...ok, delta: { ...ok.delta, duplicate_dropped: 31, received: 101 } });
  assert.equal(extraDup.ok, false);
});

void test('re-sends after ambiguous failures may add duplicates, never uniques', () => {
  const slack = { ...ok, maybeRedelivered: 10 };
  assert.equal(
    verify({ ...slack, delta: { received: 105, unique_processed: 70, duplicate_dropped: 35 } }).ok,
    true,
  );
  assert.equal(
    verify({ ...slack, delta: { received: 111, unique_processed: 70, duplicate_dropped: 41 } }).ok,
    false,
  );
  assert.equal(
    verify({ ...slack, delta: { received: 105, unique_processed: 75, duplicate_dropped: 30 } }).ok,
    false,
  );
});

void test('an undrained queue or a failed batch fails verification', () => {
  assert.equal(verify({ ...ok, drained: false }).ok, false);
  assert.equal(verify({ ...ok, failedBatches: 1 }).ok, false);
  assert.equal(verify({ ...ok, delta: null }).ok, false);
});
