import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createUuidV7, uuidv7, uuidv7Timestamp } from '../../src/client/uuidv7.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

void test('a UUID v7 has version 7, the RFC 9562 variant and the time in its first 48 bits', () => {
  const now = Date.UTC(2025, 9, 24, 12, 0, 0, 123);
  const id = uuidv7({ now: () => now });
  assert.match(id, V7);
  assert.equal(uuidv7Timestamp(id), now);
  assert.equal(
    id.slice(0, 13),
    `${now.toString(16).padStart(12, '0').slice(0, 8)}-${now.toString(16).padStart(12, '0').slice(8)}`,
  );
});

void test('the generator is strictly increasing within one millisecond', () => {
  const next = createUuidV7({ now: () => 1_700_000_000_000 });
  let prev = next();
  for (let i = 0; i < 10_000; i++) {
    const id = next();
    assert.match(id, V7);
    assert.ok(id > prev, `${id} should sort after ${prev}`);
    prev = id;
  }
});

void test('counter overflow borrows the next millisecond instead of wrapping', () => {
  const now = 1_700_000_000_000;
  const next = createUuidV7({ now: () => now });
  const ids = Array.from({ length: 5_000 }, next);
  assert.ok(uuidv7Timestamp(ids.at(-1) ?? '') > now);
  assert.ok(uuidv7Timestamp(ids.at(-1) ?? '') <= now + 3);
});

void test('ids stay ordered when the clock steps back', () => {
  const times = [2_000, 2_001, 1_000, 1_500, 2_001, 2_002];
  let i = 0;
  const next = createUuidV7({ now: () => times[i++] ?? 3_000 });
  const ids = times.map(() => next());
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(new Set(ids).size, ids.length);
});

void test('the same clock and randomness give the same ids', () => {
  const make = (): string[] => {
    let state = 7;
    const random = (b: Uint8Array): void => {
      for (let j = 0; j < b.length; j++) b[j] = state = (state * 33 + 11) % 256;
    };
    let t = 1_000;
    const next = createUuidV7({ now: () => (t += 1), random });
    return Array.from({ length: 20 }, next);
  };
  assert.deepEqual(make(), make());
});

void test('an out-of-range clock is refused rather than encoded wrongly', () => {
  assert.throws(() => uuidv7({ now: () => -1 }), RangeError);
  assert.throws(() => uuidv7({ now: () => 2 ** 48 }), RangeError);
});
