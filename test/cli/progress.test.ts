import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderProgress } from '../../src/cli/progress.js';

const state = { done: 500, total: 1_000, retries: 2, errors: 3, elapsedMs: 1_000 };

void test('on a terminal the bar redraws one line in place', () => {
  const line = renderProgress(state, true);
  assert.ok(line.startsWith('\r['));
  assert.ok(!line.includes('\n'));
  assert.match(line, /\[#{15}-{15}\]\s+50% 500\/1000 events {2}500 ev\/s {2}retries 2 {2}errors 3/);
});

void test('elsewhere each update is one plain line', () => {
  const line = renderProgress(state, false);
  assert.equal(line, 'progress:  50% 500/1000 events  500 ev/s  retries 2  errors 3\n');
  assert.ok(!line.includes('\r'));
});

void test('a time-bounded run shows a count without a percentage', () => {
  assert.equal(
    renderProgress({ ...state, total: Infinity }, false),
    'progress: 500 events  500 ev/s  retries 2  errors 3\n',
  );
});
