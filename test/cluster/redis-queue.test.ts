/**
 * Redis queue behaviour beyond the shared contract: exact depth across a Redis crash and
 * restart, bounded failure while Redis is down or hung, recovery without help, takeover of a
 * dead consumer's entries, and a stream that stays bounded. Outages use a private
 * redis-server (AOF, appendfsync always), never the shared one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { openRedisQueue, type RedisQueue } from '../../src/adapters/redis/queue.js';
import { AppError } from '../../src/domain/errors.js';
import type { Lease } from '../../src/ports/queue.js';
import { event } from '../contract/queue.contract.js';
import {
  REDIS_URL,
  clusterServicesSkipReason,
  dropRedisNamespace,
  privateRedis,
  randomNamespace,
  sleep,
  type PrivateRedis,
} from './services.js';

const skip = await clusterServicesSkipReason();

const events = (n: number): ReturnType<typeof event>[] => Array.from({ length: n }, () => event());

async function takeN(queue: RedisQueue, n: number, ms = 5_000): Promise<Lease[]> {
  const leases: Lease[] = [];
  let got = 0;
  const deadline = Date.now() + ms;
  while (got < n && Date.now() < deadline) {
    const lease = await queue.take(
      n - got,
      AbortSignal.timeout(Math.max(1, deadline - Date.now())),
    );
    if (lease === null) break;
    leases.push(lease);
    got += lease.deliveries.length;
  }
  assert.equal(got, n, `took ${got} of ${n}`);
  return leases;
}

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (await check().catch(() => false)) return Date.now() - started;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function open(url: string, namespace: string, consumerName: string, claimIdleMs = 60_000) {
  return openRedisQueue({ url, namespace, consumerName, claimIdleMs, queueMax: 100_000 });
}

void describe(
  'Redis queue: outages and restarts (private redis-server)',
  { skip: skip ?? false },
  () => {
    let server: PrivateRedis;
    before(async () => {
      server = await privateRedis();
    });
    after(async () => {
      await server?.destroy();
    });

    void it('depth stays exact across a SIGKILL of Redis; enqueue fails fast while it is down; everything recovers by itself', async () => {
      const ns = randomNamespace();
      const queue = await open(server.url, ns, 'a');
      try {
        for (let i = 0; i < 5; i++) await queue.enqueue(events(10));
        for (const l of await takeN(queue, 20)) await queue.ack(l);
        const held = await takeN(queue, 10); // taken, not acked: pending across the crash
        assert.deepEqual(await queue.stats(), { received: 50, depth: 30 });

        await server.stop('SIGKILL');
        const started = Date.now();
        await assert.rejects(queue.enqueue(events(3)), (err: unknown) => {
          assert.ok(err instanceof AppError);
          assert.equal(err.code, 'unavailable');
          assert.equal(err.retryAfter, 1);
          return true;
        });
        const failMs = Date.now() - started;
        assert.ok(failMs <= 2_100, `enqueue failed after ${failMs} ms`);
        assert.equal(await queue.ready(), false);

        await server.start();
        const recoverMs = await until('queue ready again', () => queue.ready());
        console.log(
          `redis outage: enqueue failed in ${failMs} ms, ready ${recoverMs} ms after restart`,
        );
        // Exact, from the AOF: no XINFO lag involved.
        assert.deepEqual(await queue.stats(), { received: 50, depth: 30 });
        // The pending entries survived with their lease: acking them now counts once.
        for (const l of held) await queue.ack(l);
        for (const l of held) await queue.ack(l);
        assert.deepEqual(await queue.stats(), { received: 50, depth: 20 });
        await queue.enqueue(events(5));
        for (const l of await takeN(queue, 25)) await queue.ack(l);
        assert.deepEqual(await queue.stats(), { received: 55, depth: 0 });
        const r = new Redis(server.url);
        try {
          assert.equal(await r.xlen(queue.keys.stream), 0, 'acked entries are deleted');
        } finally {
          r.disconnect();
        }
      } finally {
        await queue.close();
      }
    });

    void it('a hung Redis (SIGSTOP) fails enqueue and ready within the command timeout', async () => {
      const ns = randomNamespace();
      const queue = await open(server.url, ns, 'a');
      try {
        await queue.enqueue(events(1));
        process.kill(server.pid(), 'SIGSTOP');
        try {
          const started = Date.now();
          // Sent, not confirmed: 504 outcome_unknown, never the 503 that promises nothing.
          await assert.rejects(queue.enqueue(events(1)), { code: 'outcome_unknown' });
          const ms = Date.now() - started;
          assert.ok(ms >= 1_500 && ms <= 2_500, `enqueue failed after ${ms} ms`);
          assert.equal(await queue.ready(), false);
        } finally {
          process.kill(server.pid(), 'SIGCONT');
        }
        await until('queue ready again', () => queue.ready());
        await queue.enqueue(events(1));
        const { received, depth } = await queue.stats();
        // The enqueue that timed out may or may not have been applied (at-least-once), but
        // received and depth moved together.
        assert.ok(received === 2 || received === 3);
        assert.equal(depth, received);
      } finally {
        await queue.close();
      }
    });
  },
);

void describe('Redis queue: consumers of one group', { skip: skip ?? false }, () => {
  void it("a dead consumer's unacked entries are taken over after claimIdleMs and counted once", async () => {
    const ns = randomNamespace();
    const a = await open(REDIS_URL, ns, 'a', 300);
    const b = await open(REDIS_URL, ns, 'b', 300);
    try {
      const ids = await a.enqueue(events(8));
      const taken = await takeN(a, 5);
      await a.close(); // "dies" holding 5 entries
      const started = Date.now();
      const leases = await takeN(b, 8, 5_000);
      const claimedMs = Date.now() - started;
      const got = leases.flatMap((l) => l.deliveries.map((d) => d.id));
      assert.deepEqual([...got].sort(), [...ids].sort());
      assert.ok(claimedMs < 3_000, `took over after ${claimedMs} ms`);
      for (const l of leases) await b.ack(l);
      // The dead consumer's late ack (e.g. a reply lost in flight) changes nothing.
      const late = await open(REDIS_URL, ns, 'a', 300);
      for (const l of taken) await late.ack(l);
      await late.close();
      assert.deepEqual(await b.stats(), { received: 8, depth: 0 });
    } finally {
      await a.close();
      await b.close();
      await dropRedisNamespace(REDIS_URL, ns);
    }
  });

  void it('a released delivery that another instance took over and acked is not handed out again', async () => {
    const ns = randomNamespace();
    const a = await open(REDIS_URL, ns, 'a', 200);
    const b = await open(REDIS_URL, ns, 'b', 200);
    try {
      await a.enqueue(events(3));
      for (const l of await takeN(a, 3)) await a.release(l); // e.g. the store was down for a
      await sleep(300);
      const taken = await takeN(b, 3);
      for (const l of taken) await b.ack(l);
      assert.equal(await a.take(10, AbortSignal.timeout(1_000)), null);
      assert.deepEqual(await a.stats(), { received: 3, depth: 0 });
    } finally {
      await a.close();
      await b.close();
      await dropRedisNamespace(REDIS_URL, ns);
    }
  });

  void it('the delivery floor is the oldest pending id, or just above the last delivered one', async () => {
    const ns = randomNamespace();
    const q = await open(REDIS_URL, ns, 'a');
    try {
      assert.equal(await q.deliveryFloor(), '0-1');
      const ids = await q.enqueue(events(6));
      const [first, second] = await Promise.all([takeN(q, 3), Promise.resolve(null)]);
      assert.ok(second === null);
      assert.equal(await q.deliveryFloor(), ids[0]);
      for (const l of first) await q.ack(l);
      // Entries 4-6 not delivered yet: the floor moves just past the last delivered one.
      const [ms, seq] = (ids[2] ?? '').split('-');
      assert.equal(await q.deliveryFloor(), `${ms}-${Number(seq) + 1}`);
      const rest = await takeN(q, 3);
      assert.equal(await q.deliveryFloor(), ids[3]);
      for (const l of rest) await q.ack(l);
    } finally {
      await q.close();
      await dropRedisNamespace(REDIS_URL, ns);
    }
  });

  void it('an event holding the enqueue separator is refused as a bug and nothing of its request is queued', async () => {
    const ns = randomNamespace();
    const q = await open(REDIS_URL, ns, 'x');
    try {
      // Impossible for a validated event (JSON text escapes control characters); the script
      // must still refuse the whole request rather than split it wrongly.
      const bad = { ...event(), payload: '{"a":"\u001e"}' };
      await assert.rejects(q.enqueue([event(), bad, event()]), (err: unknown) => {
        assert.ok(err instanceof AppError);
        assert.equal(err.code, 'internal');
        return true;
      });
      assert.deepEqual(await q.stats(), { received: 0, depth: 0 });
      const ids = await q.enqueue(events(3));
      const [lease] = await takeN(q, 3);
      assert.deepEqual(
        lease?.deliveries.map((d) => d.id),
        ids,
      );
    } finally {
      await q.close();
      await dropRedisNamespace(REDIS_URL, ns);
    }
  });

  void it('two instances enqueueing at once never pass queueMax together', async () => {
    const ns = randomNamespace();
    const mk = () =>
      openRedisQueue({
        url: REDIS_URL,
        namespace: ns,
        consumerName: 'x',
        claimIdleMs: 60_000,
        queueMax: 100,
      });
    const [a, b] = await Promise.all([mk(), mk()]);
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).enqueue(events(7))),
      );
      const accepted = results.filter((r) => r.status === 'fulfilled').length;
      assert.equal(accepted, 14); // 14 * 7 = 98 <= 100 < 105
      assert.deepEqual(await a.stats(), { received: 98, depth: 98 });
    } finally {
      await a.close();
      await b.close();
      await dropRedisNamespace(REDIS_URL, ns);
    }
  });
});
