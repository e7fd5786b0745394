import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrng } from '../../src/cli/prng.js';

void test('the same seed gives the same stream', () => {
  const a = createPrng('42');
  const b = createPrng('42');
  for (let i = 0; i < 1_000; i++) assert.equal(a.uint32(), b.uint32());
});

void test('nearby seeds give unrelated streams', () => {
  const p1 = createPrng('1');
  const a = Array.from({ length: 8 }, () => p1.uint32());
  const p2 = createPrng('2');
  const b = Array.from({ length: 8 }, () => p2.uint32());
  assert.notDeepEqual(a, b);
  assert.equal(a.filter((x, i) => x === b[i]).length, 0);
});

void test('float() is in [0, 1) and int(n) in [0, n), roughly uniform', () => {
  const r = createPrng('uniform');
  const buckets = new Array<number>(10).fill(0);
  for (let i = 0; i < 100_000; i++) {
    const f = r.float();
    assert.ok(f >= 0 && f < 1);
    const k = r.int(10);
    buckets[k] = (buckets[k] ?? 0) + 1;
  }
  for (const b of buckets) assert.ok(b > 9_000 && b < 11_000, `bucket ${b}`);
  assert.throws(() => r.int(0), RangeError);
});

void test('fill() writes every byte and is reproducible', () => {
  const a = new Uint8Array(13);
  const b = new Uint8Array(13);
  createPrng('bytes').fill(a);
  createPrng('bytes').fill(b);
  assert.deepEqual(a, b);
  assert.ok(a.some((x) => x !== 0));
});
