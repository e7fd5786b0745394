/** The consumer loop against fake ports: retries, ack failures, duplicate logging, stop. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import pino from 'pino';
import { startWorkers } from '../../src/consumer/worker.js';
import type { Delivery, Lease, QueueReader } from '../../src/ports/queue.js';
import type { AppliedItem, ApplyResult, EventWriter } from '../../src/ports/store.js';

const delivery = (id: number, eventId = `e${id}`): Delivery => ({
  id: String(id),
  event: {
    topic: 't',
    event_id: eventId,
    timestamp: '2025-10-24T00:00:00.000Z',
    source: 's',
    payload: '{}',
  },
});

/** Hands out the given leases, then null (as a draining queue does). */
class FakeQueue implements QueueReader {
  readonly acked: Lease[] = [];
  readonly released: Lease[] = [];
  failAcks = 0;
  constructor(private readonly leases: Lease[]) {}
  take(): Promise<Lease | null> {
    return Promise.resolve(this.leases.shift() ?? null);
  }
  ack(lease: Lease): Promise<void> {
    if (this.failAcks-- > 0) return Promise.reject(new Error('ack lost'));
    this.acked.push(lease);
    return Promise.resolve();
  }
  release(lease: Lease): Promise<void> {
    this.released.push(lease);
    this.leases.unshift(lease);
    return Promise.resolve();
  }
}

/** Stores keys once; fails the first `failures` applies. */
class FakeStore implements EventWriter {
  readonly keys = new Set<string>();
  applies = 0;
  constructor(private failures = 0) {}
  apply(deliveries: readonly Delivery[]): Promise<ApplyResult> {
    this.applies++;
    if (this.failures-- > 0) return Promise.reject(new Error('store down'));
    const items: AppliedItem[] = deliveries.map((d) => {
      const key = `${d.event.topic}/${d.event.event_id}`;
      const fresh = !this.keys.has(key);
      this.keys.add(key);
      return {
        delivery: d.id,
        topic: d.event.topic,
        event_id: d.event.event_id,
        status: fresh ? 'stored' : 'duplicate',
        offset: 1,
      };
    });
    const stored = items.filter((i) => i.status === 'stored').length;
    return Promise.resolve({ items, stored, duplicates: items.length - stored });
  }
}

function capture(): { log: pino.Logger; lines: { msg: string; topic?: string }[] } {
  const lines: { msg: string; topic?: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n')) {
        if (l) lines.push(JSON.parse(l) as { msg: string });
      }
      cb();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

void describe('consumer workers', () => {
  void it('releases a lease whose apply failed and applies it on retry, once', async () => {
    const lease = { deliveries: [delivery(1), delivery(2)] };
    const queue = new FakeQueue([lease]);
    const store = new FakeStore(1);
    const results: ApplyResult[] = [];
    const { log, lines } = capture();
    const w = startWorkers({
      queue,
      store,
      log,
      count: 1,
      batchMax: 10,
      onApplied: (r) => results.push(r),
    });
    await w.done;
    assert.equal(store.applies, 2);
    assert.deepEqual(queue.released, [lease]);
    assert.deepEqual(queue.acked, [lease]);
    assert.equal(results.length, 1);
    assert.equal(results[0]?.stored, 2);
    assert.ok(lines.some((l) => /store apply failed/.test(l.msg)));
  });

  void it('keeps consuming after an ack fails following a commit', async () => {
    const queue = new FakeQueue([{ deliveries: [delivery(1)] }, { deliveries: [delivery(2)] }]);
    queue.failAcks = 1;
    const store = new FakeStore();
    const w = startWorkers({ queue, store, log: capture().log, count: 1, batchMax: 10 });
    await w.done;
    assert.equal(store.keys.size, 2);
    assert.equal(queue.acked.length, 1);
  });

  void it('logs every dropped duplicate with its topic and event_id', async () => {
    const queue = new FakeQueue([
      { deliveries: [delivery(1, 'a'), delivery(2, 'a'), delivery(3, 'b')] },
      { deliveries: [delivery(4, 'b'), delivery(5, 'a')] },
    ]);
    const { log, lines } = capture();
    await startWorkers({ queue, store: new FakeStore(), log, count: 2, batchMax: 10 }).done;
    const dups = lines.filter((l) => l.msg.startsWith('duplicate dropped'));
    assert.deepEqual(dups.map((l) => l.msg).sort(), [
      'duplicate dropped topic=t event_id=a',
      'duplicate dropped topic=t event_id=a',
      'duplicate dropped topic=t event_id=b',
    ]);
    assert.ok(dups.every((l) => l.topic === 't'));
  });

  void it('stops waiting workers when aborted', async () => {
    const never: QueueReader = {
      take: (_max, signal) =>
        new Promise((resolve) => signal?.addEventListener('abort', () => resolve(null))),
      ack: () => Promise.resolve(),
      release: () => Promise.resolve(),
    };
    const w = startWorkers({
      queue: never,
      store: new FakeStore(),
      log: capture().log,
      count: 3,
      batchMax: 10,
    });
    w.abort();
    await w.done;
  });
});
