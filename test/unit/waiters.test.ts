import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResultWaiters } from '../../src/consumer/waiters.js';
import { Changes } from '../../src/http/changes.js';
import type { AppliedItem, ApplyResult } from '../../src/ports/store.js';

const item = (delivery: string, status: AppliedItem['status'] = 'stored'): AppliedItem => ({
  delivery,
  topic: 't',
  event_id: `e${delivery}`,
  status,
  offset: status === 'redelivered' ? null : Number(delivery),
});

const batch = (...items: AppliedItem[]): ApplyResult => ({
  items,
  stored: items.filter((i) => i.status === 'stored').length,
  duplicates: items.filter((i) => i.status === 'duplicate').length,
});

void describe('ResultWaiters', () => {
  void it('resolves with one item per id in request order, across several batches', async () => {
    const waiters = new ResultWaiters();
    const pending = waiters.wait(['1', '2', '3'], 5_000);
    assert.equal(waiters.size, 3);
    waiters.settle(batch(item('3', 'duplicate'), item('99')));
    waiters.settle(batch(item('1'), item('2')));
    const items = await pending;
    assert.deepEqual(
      items.map((i) => [i.delivery, i.status]),
      [
        ['1', 'stored'],
        ['2', 'stored'],
        ['3', 'duplicate'],
      ],
    );
    assert.equal(waiters.size, 0);
  });

  void it('keeps two requests apart', async () => {
    const waiters = new ResultWaiters();
    const a = waiters.wait(['1'], 5_000);
    const b = waiters.wait(['2'], 5_000);
    waiters.settle(batch(item('2'), item('1', 'duplicate')));
    assert.equal((await a)[0]?.status, 'duplicate');
    assert.equal((await b)[0]?.status, 'stored');
  });

  void it('rejects on timeout and forgets the ids it waited for', async () => {
    const waiters = new ResultWaiters();
    await assert.rejects(waiters.wait(['5', '6'], 10), /timed out/);
    assert.equal(waiters.size, 0);
  });

  void it('ignores batches nobody waits for', () => {
    const waiters = new ResultWaiters();
    waiters.settle(batch(item('1')));
    assert.equal(waiters.size, 0);
  });
});

void describe('live-subscriber wake-ups', () => {
  void it('forget a waiter whose timer fired, so idle subscribers do not accumulate', async () => {
    const changes = new Changes();
    await Promise.all(Array.from({ length: 50 }, () => changes.next(1)));
    assert.equal(changes.size, 0);
    const woken = changes.next(60_000);
    assert.equal(changes.size, 1);
    changes.wake();
    await woken;
    assert.equal(changes.size, 0);
  });
});
