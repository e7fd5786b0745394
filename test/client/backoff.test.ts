import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, parseRetryAfter } from '../../src/client/backoff.js';

const opts = { baseMs: 100, maxMs: 5_000 };

void test('full jitter draws from [0, base * 2^retry)', () => {
  assert.equal(
    backoffDelay(0, opts, () => 0),
    0,
  );
  assert.ok(backoffDelay(0, opts, () => 0.999) < 100);
  assert.ok(Math.abs(backoffDelay(3, opts, () => 0.5) - 400) < 1e-9);
});

void test('the ceiling is capped at maxMs however many retries', () => {
  assert.ok(backoffDelay(40, opts, () => 0.999999) < 5_000);
  assert.ok(backoffDelay(1_000, opts, () => 0.5) === 2_500);
});

void test('jittered delays spread out instead of coinciding', () => {
  let seed = 1;
  const random = (): number => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
  const delays = Array.from({ length: 200 }, () => backoffDelay(4, opts, random));
  assert.ok(new Set(delays.map((d) => Math.round(d))).size > 150);
  assert.ok(delays.every((d) => d >= 0 && d < 1_600));
});

void test('Retry-After is a floor, with at most 20 % added', () => {
  assert.equal(
    backoffDelay(0, opts, () => 0, 2_000),
    2_000,
  );
  const d = backoffDelay(0, opts, () => 0.999, 2_000);
  assert.ok(d >= 2_000 && d < 2_400);
});

void test('Retry-After accepts delay-seconds and HTTP-dates, and ignores garbage', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('3', now), 3_000);
  assert.equal(parseRetryAfter(' 0 ', now), 0);
  assert.equal(parseRetryAfter('1.5', now), 1_500);
  assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', now), 10_000);
  assert.equal(parseRetryAfter('Tue, 31 Dec 2024 00:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter(undefined, now), undefined);
  assert.equal(parseRetryAfter(['2'], now), 2_000);
});
