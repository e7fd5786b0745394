/**
 * The Queue port contract (src/ports/queue.ts), one suite run unchanged against every queue
 * adapter. An adapter's test file calls `runQueueContract(name, open)`; `open` gives a fresh,
 * empty queue on its own storage (data dir, Redis namespace) each time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AcceptedEvent } from '../../src/domain/event.js';
import { AppError } from '../../src/domain/errors.js';
import type { Delivery, Lease, Queue } from '../../src/ports/queue.js';
import { deepestValidEvent, payloadOfBytes, validEvents } from '../helpers/hostile.js';

export interface QueueContractOptions {
  /** The bound on depth the queue must enforce. */
  readonly queueMax: number;
}

export interface OpenedQueue {
  readonly queue: Queue;
  /**
   * Optional: a new Queue on the same storage (same data dir / namespace and consumer name),
   * to be called after `queue.close()`; it proves durability across a restart.
   */
  readonly reopen?: () => Promise<Queue>;
  /** Closes whatever is still open and deletes the storage. */
  cleanup(): Promise<void>;
}

export type QueueOpener = (opts: QueueContractOptions) => Promise<OpenedQueue>;

const BIG = 1_000;

let seq = 0;
/** A valid AcceptedEvent; every call a new event_id unless given. */
export function event(over: Partial<AcceptedEvent> = {}): AcceptedEvent {
  seq++;
  return {
    topic: 'orders',
    event_id: `ev-${seq}`,
    timestamp: '2025-10-24T00:00:00.000Z',
    source: 'checkout-svc',
    payload: `{"n":${seq}}`,
    ...over,
  };
}

const events = (n: number, over: Partial<AcceptedEvent> = {}): AcceptedEvent[] =>
  Array.from({ length: n }, () => event(over));

/** take() bounded in time, so a broken adapter fails the test instead of hanging it. */
async function take(queue: Queue, max: number, ms = 3_000): Promise<Lease | null> {
  return queue.take(max, AbortSignal.timeout(ms));
}

/** Takes until `n` deliveries arrived (or the time is up); returns them and their leases. */
async function takeN(
  queue: Queue,
  n: number,
  ms = 5_000,
): Promise<{ deliveries: Delivery[]; leases: Lease[] }> {
  const deadline = Date.now() + ms;
  const deliveries: Delivery[] = [];
  const leases: Lease[] = [];
  while (deliveries.length < n && Date.now() < deadline) {
    const lease = await take(queue, n - deliveries.length, Math.max(1, deadline - Date.now()));
    if (lease === null) break;
    leases.push(lease);
    deliveries.push(...lease.deliveries);
  }
  return { deliveries, leases };
}

async function withQueue(
  open: QueueOpener,
  opts: QueueContractOptions,
  body: (q: OpenedQueue) => Promise<void>,
): Promise<void> {
  const opened = await open(opts);
  try {
    await body(opened);
  } finally {
    await opened.cleanup();
  }
}

export function runQueueContract(name: string, open: QueueOpener): void {
  void describe(`Queue contract: ${name}`, () => {
    void it('enqueue answers one delivery id per event, in input order, and take hands them out in that order', async () => {
      await withQueue(open, { queueMax: BIG }, async ({ queue }) => {
        const sent = events(5);
        const ids = await queue.enqueue(sent);
        assert.equal(ids.length, 5);
        assert.equal(new Set(ids).size, 5);
        const more = await queue.enqueue(events(2));
        const { deliveries } = await takeN(queue, 7);
        assert.deepEqual(
          deliveries.map((d) => d.id),
          [...ids, ...more],
        );
        assert.deepEqual(
          deliveries.slice(0, 5).map((d) => d.event),
          sent,
        );
      });
    });

    void it('events travel through the queue byte for byte (unicode, nested payload, fine timestamps)', async () => {
      await withQueue(open, { queueMax: BIG }, async ({ queue }) => {
        const sent = event({
          topic: 'app/prod:api.v1',
          event_id: 'ünï-😀-"quoted"\\',
          timestamp: '2025-10-24T00:00:00.123456789Z',
          source: 'sørvice – ☃',
          payload:
            '{"z":1,"a":{"deep":[1,{"x":"line\\nbreak \\u0000 😀"}],"n":null},"é":"\\ud800"}',
        });
        await queue.enqueue([sent]);
        const lease = await take(queue, 10);
        assert.deepEqual(lease?.deliveries[0]?.event, sent);
      });
    });

    void it('hostile events the validator accepts travel byte for byte, in order, in one enqueue (separators, unicode, longest names, deepest and largest payloads)', async () => {
      await withQueue(open, { queueMax: BIG }, async (opened) => {
        const sent = [
          ...validEvents(0xbad, 300),
          deepestValidEvent(),
          event({ payload: payloadOfBytes(64 * 1024) }),
          ...validEvents(0xbee, 50),
        ];
        const ids = await opened.queue.enqueue(sent);
        assert.equal(ids.length, sent.length);
        // Read back after a restart where the adapter has one: the stored form is decoded then.
        let queue = opened.queue;
        if (opened.reopen !== undefined) {
          await queue.close();
          queue = await opened.reopen();
        }
        const { deliveries, leases } = await takeN(queue, sent.length, 10_000);
        assert.deepEqual(
          deliveries.map((d) => d.id),
          ids,
        );
        for (const [i, d] of deliveries.entries())
          assert.deepEqual(d.event, sent[i], `event #${i}`);
        for (const l of leases) await queue.ack(l);
        assert.deepEqual(await queue.stats(), { received: sent.length, depth: 0 });
        if (queue !== opened.queue) await queue.close();
      });
    });

    void it('received counts every enqueued event once and depth = received - acked', async () => {
      await withQueue(open, { queueMax: BIG }, async ({ queue }) => {
        assert.deepEqual(await queue.stats(), { received: 0, depth: 0 });
        await queue.enqueue(events(5));
        await queue.enqueue(events(3));
        assert.deepEqual(await queue.stats(), { received: 8, depth: 8 });
        const first = await takeN(queue, 4);
        assert.equal(first.deliveries.length, 4);
        // Taken but not acked: still counted in depth.
        assert.deepEqual(await queue.stats(), { received: 8, depth: 8 });
        for (const l of first.leases) await queue.ack(l);
        assert.deepEqual(await queue.stats(), { received: 8, depth: 4 });
        const rest = await takeN(queue, 4);
        for (const l of rest.leases) await queue.ack(l);
        assert.deepEqual(await queue.stats(), { received: 8, depth: 0 });
      });
    });

    void it('a full queue rejects the whole call with queue_full and accepts nothing', async () => {
      await withQueue(open, { queueMax: 10 }, async ({ queue }) => {
        await queue.enqueue(events(8));
        await assert.rejects(queue.enqueue(events(3)), (err: unknown) => {
          assert.ok(err instanceof AppError);
          assert.equal(err.code, 'queue_full');
          assert.ok((err.retryAfter ?? 0) > 0, 'queue_full carries retryAfter');
          return true;
        });
        assert.deepEqual(await queue.stats(), { received: 8, depth: 8 });
        // Exactly up to the bound is fine.
        await queue.enqueue(events(2));
        assert.deepEqual(await queue.stats(), { received: 10, depth: 10 });
        const { deliveries, leases } = await takeN(queue, 10);
        assert.equal(deliveries.length, 10);
        // Acking makes room again.
        for (const l of leases) await queue.ack(l);
        await queue.enqueue(events(10));
      });
    });

    void it('a released delivery is handed out again', async () => {
      await withQueue(open, { queueMax: BIG }, async ({ queue }) => {
        const ids = await queue.enqueue(events(3));
        const first = await takeN(queue, 3);
        for (const l of first.leases) await queue.release(l);
        const again = await takeN(queue, 3);
        assert.deepEqual(again.deliveries.map((d) => d.id).sort(), [...ids].sort());
        for (const l of again.leases) await queue.ack(l);
        assert.equal((await queue.stats()).depth, 0);
      });
    });

    void it('a delivery never acked is handed out again after a restart, and the counters survive', async (t) => {
      await withQueue(open, { queueMax: BIG }, async (opened) => {
        if (opened.reopen === undefined) return t.skip('adapter has no reopen');
        const ids = await opened.queue.enqueue(events(4));
        const taken = await takeN(opened.queue, 2);
        assert.equal(taken.deliveries.length, 2);
        await opened.queue.ack({ deliveries: taken.deliveries.slice(0, 1) });
        await opened.queue.close();
        const queue = await opened.reopen();
        assert.deepEqual(await queue.stats(), { received: 4, depth: 3 });
        const { deliveries, leases } = await takeN(queue, 3, 8_000);
        assert.deepEqual(deliveries.map((d) => d.id).sort(), ids.slice(1).sort());
        for (const l of leases) await queue.ack(l);
        assert.deepEqual(await queue.stats(), { received: 4, depth: 0 });
        await queue.close();
      });
    });

    void it('ack is idempotent: a second ack of the same lease changes nothing', async () => {
      await withQueue(open, { queueMax: BIG }, async ({ queue }) => {
        await queue.enqueue(events(3));
        await queue.enqueue(events(2));
        const lease = await take(queue, 3);
        assert.ok(lease !== null);
        await queue.ack(lease);
        const after = await queue.stats();
        await queue.ack(lease);
        assert.deepEqual(await queue.stats(), after);
        assert.equal(after.received - after.depth, lease.deliveries.length);
      });
    });

    void it('concurrent takes never hand out the same delivery twice', async () => {
      await withQueue(open, { queueMax: BIG }, async ({ queue }) => {
        const ids = await queue.enqueue(events(20));
        const seen: string[] = [];
        const leases: Lease[] = [];
        while (seen.length < 20) {
          const batch = await Promise.all([1, 2, 3, 4].map(() => take(queue, 5, 1_500)));
          if (batch.every((l) => l === null || l.deliveries.length === 0)) break;
          for (const l of batch) {
            if (l === null) continue;
            leases.push(l);
            seen.push(...l.deliveries.map((d) => d.id));
          }
        }
        assert.equal(seen.length, 20);
        assert.deepEqual([...seen].sort(), [...ids].sort());
        for (const l of leases) await queue.ack(l);
      });
    });

    void it('take hands out at most max deliveries', async () => {
      await withQueue(open, { queueMax: BIG }, async ({ queue }) => {
        await queue.enqueue(events(10));
        const lease = await take(queue, 3);
        assert.ok(lease !== null && lease.deliveries.length >= 1 && lease.deliveries.length <= 3);
      });
    });

    void it('a waiting take wakes up when events are enqueued', async () => {
      await withQueue(open, { queueMax: BIG }, async ({ queue }) => {
        const pending = take(queue, 10, 5_000);
        await new Promise((r) => setTimeout(r, 150));
        const [id] = await queue.enqueue(events(1));
        const lease = await pending;
        assert.equal(lease?.deliveries[0]?.id, id);
      });
    });

    void it('a waiting take resolves null soon after its signal aborts', async () => {
      await withQueue(open, { queueMax: BIG }, async ({ queue }) => {
        const controller = new AbortController();
        const started = Date.now();
        const pending = queue.take(10, controller.signal);
        setTimeout(() => controller.abort(), 100);
        assert.equal(await pending, null);
        assert.ok(Date.now() - started < 1_500, `took ${Date.now() - started} ms`);
      });
    });

    void it('after stopIntake enqueue rejects as unavailable and takes drain what is left, then resolve null', async () => {
      await withQueue(open, { queueMax: BIG }, async ({ queue }) => {
        const ids = await queue.enqueue(events(3));
        queue.stopIntake();
        await assert.rejects(queue.enqueue(events(1)), (err: unknown) => {
          assert.ok(err instanceof AppError);
          assert.equal(err.code, 'unavailable');
          return true;
        });
        const drained: string[] = [];
        for (;;) {
          const started = Date.now();
          const lease = await take(queue, 10);
          if (lease === null) {
            assert.ok(Date.now() - started < 2_500, 'a drained queue answers null, not a timeout');
            break;
          }
          drained.push(...lease.deliveries.map((d) => d.id));
          await queue.ack(lease);
        }
        assert.deepEqual(drained, ids);
        assert.deepEqual(await queue.stats(), { received: 3, depth: 0 });
      });
    });
  });
}
