import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import {
  AttemptError,
  createPublisher,
  PublisherError,
  RejectedError,
  RetriesExhaustedError,
  type PublishEvent,
} from '../../src/client/index.js';
import type { ServerResponse } from 'node:http';
import { json, startStub, type Stub } from './stub.js';

function ev(i: number, topic = 'orders'): PublishEvent {
  return {
    topic,
    event_id: `e-${i}`,
    timestamp: '2025-01-01T00:00:00Z',
    source: 'test',
    payload: { i, nested: { ok: true } },
  };
}

const accept = (): ((r: { body: string }, res: ServerResponse) => void) => {
  return (r, res) => json(res, 202, { accepted: (JSON.parse(r.body) as unknown[]).length });
};

/** A port nobody listens on: bind, read the number, close. */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

const fast = { backoff: { baseMs: 1, maxMs: 5 } };

async function withStub(
  handler: Parameters<typeof startStub>[0],
  body: (stub: Stub) => Promise<void>,
): Promise<void> {
  const stub = await startStub(handler);
  try {
    await body(stub);
  } finally {
    await stub.close();
  }
}

void test('a full batch is sent at once and the rest after the linger time', async () => {
  await withStub(accept(), async (stub) => {
    const p = createPublisher({ url: stub.url, maxBatchEvents: 500, lingerMs: 50 });
    const events = Array.from({ length: 1_050 }, (_, i) => ev(i));
    await p.publish(events);
    const sizes = stub.requests.map((r) => (JSON.parse(r.body) as unknown[]).length);
    assert.deepEqual(sizes, [500, 500, 50]);
    assert.deepEqual(
      stub.requests.flatMap((r) => (JSON.parse(r.body) as PublishEvent[]).map((e) => e.event_id)),
      events.map((e) => e.event_id),
    );
    assert.equal(p.counters().eventsSent, 1_050);
    assert.equal(p.counters().eventsAccepted, 1_050);
    await p.close();
  });
});

void test('events published one by one within the linger time share one request', async () => {
  await withStub(accept(), async (stub) => {
    const p = createPublisher({ url: stub.url, lingerMs: 30 });
    await Promise.all([p.publish(ev(1)), p.publish(ev(2)), p.publish([ev(3), ev(4)])]);
    assert.equal(stub.requests.length, 1);
    assert.equal((JSON.parse(stub.requests[0]?.body ?? '[]') as unknown[]).length, 4);
    await p.close();
  });
});

void test('flush() sends a partial batch without waiting for the linger time', async () => {
  await withStub(accept(), async (stub) => {
    const p = createPublisher({ url: stub.url, lingerMs: 60_000 });
    void p.publish(ev(1));
    const t0 = performance.now();
    await p.flush();
    assert.ok(performance.now() - t0 < 5_000);
    assert.equal(stub.requests.length, 1);
    await p.close();
  });
});

void test('a batch is sealed before it exceeds maxBatchBytes', async () => {
  await withStub(accept(), async (stub) => {
    const one = JSON.stringify(ev(1)).length;
    const p = createPublisher({ url: stub.url, maxBatchBytes: one * 3 + 10, lingerMs: 1 });
    await p.publish(Array.from({ length: 7 }, (_, i) => ev(i)));
    assert.ok(stub.requests.length >= 3);
    for (const r of stub.requests) assert.ok(Buffer.byteLength(r.body) <= one * 3 + 10);
    await p.close();
  });
});

void test('503 with Retry-After is retried after at least that long, with the same body', async () => {
  await withStub(
    (r, res, i) =>
      i === 0
        ? json(
            res,
            503,
            { error: 'queue_full', message: 'full', details: [] },
            { 'retry-after': '1' },
          )
        : accept()(r, res),
    async (stub) => {
      const p = createPublisher({ url: stub.url, ...fast });
      const t0 = performance.now();
      await p.publish([ev(1), ev(2)]);
      await p.flush();
      assert.ok(performance.now() - t0 >= 990, 'waited for Retry-After');
      assert.equal(stub.requests.length, 2);
      assert.equal(stub.requests[0]?.body, stub.requests[1]?.body);
      const c = p.counters();
      assert.equal(c.retries, 1);
      assert.equal(c.httpErrors, 1);
      assert.equal(c.eventsMaybeRedelivered, 0, 'a 503 enqueued nothing');
      await p.close();
    },
  );
});

void test('500 and dropped connections are retried and counted as possibly delivered', async () => {
  await withStub(
    (r, res, i) => {
      if (i === 0) return json(res, 500, { error: 'internal', message: 'boom', details: [] });
      if (i === 1) return void res.socket?.destroy();
      return accept()(r, res);
    },
    async (stub) => {
      const p = createPublisher({ url: stub.url, ...fast });
      await p.publish([ev(1)]);
      const c = p.counters();
      assert.equal(stub.requests.length, 3);
      assert.equal(c.retries, 2);
      assert.equal(c.httpErrors, 1);
      assert.equal(c.networkErrors, 1);
      assert.equal(c.eventsMaybeRedelivered, 2);
      await p.close();
    },
  );
});

void test('a 400 is not retried and carries the server details', async () => {
  const details = [{ index: 1, field: '/topic', message: 'must match pattern' }];
  await withStub(
    (_r, res) =>
      json(res, 400, { error: 'validation_failed', message: '1 invalid event', details }),
    async (stub) => {
      const p = createPublisher({ url: stub.url, ...fast });
      const err = await p.send([ev(0), ev(1, 'bad topic')]).then(
        () => assert.fail('should reject'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof RejectedError);
      assert.equal(err.code, 'rejected');
      assert.equal(err.status, 400);
      assert.equal(err.serverCode, 'validation_failed');
      assert.deepEqual(err.details, details);
      assert.equal(stub.requests.length, 1);
      assert.equal(p.counters().retries, 0);
      assert.equal(p.counters().eventsFailed, 2);
      await p.close();
    },
  );
});

void test('attempts are capped and the last failure is the cause', async () => {
  await withStub(
    (_r, res) => json(res, 503, { error: 'unavailable', message: 'down', details: [] }),
    async (stub) => {
      const p = createPublisher({ url: stub.url, maxAttempts: 3, ...fast });
      const err = await p.send([ev(1)]).catch((e: unknown) => e);
      assert.ok(err instanceof RetriesExhaustedError);
      assert.equal(err.code, 'retries_exhausted');
      assert.equal(err.attempts, 3);
      assert.ok(err.cause instanceof AttemptError);
      assert.equal(err.cause.code, 'unavailable');
      assert.equal(stub.requests.length, 3);
      await p.close();
    },
  );
});

void test('the total retry time is capped even when attempts remain', async () => {
  await withStub(
    (_r, res) => json(res, 503, { error: 'x', message: 'x', details: [] }, { 'retry-after': '5' }),
    async (stub) => {
      const p = createPublisher({ url: stub.url, maxAttempts: 100, maxRetryTimeMs: 500 });
      const t0 = performance.now();
      const err = await p.send([ev(1)]).catch((e: unknown) => e);
      assert.ok(err instanceof RetriesExhaustedError);
      assert.equal(err.attempts, 1, 'a 5 s Retry-After does not fit a 0.5 s budget');
      assert.ok(performance.now() - t0 < 2_000);
      await p.close();
    },
  );
});

void test('a request that gets no answer times out and is retried', async () => {
  await withStub(
    (r, res, i) => (i === 0 ? undefined : accept()(r, res)),
    async (stub) => {
      const p = createPublisher({ url: stub.url, requestTimeoutMs: 200, ...fast });
      await p.publish([ev(1)]);
      const c = p.counters();
      assert.equal(c.timeouts, 1);
      assert.equal(c.retries, 1);
      assert.equal(c.eventsMaybeRedelivered, 1, 'the server may have taken the timed-out batch');
      await p.close();
    },
  );
});

void test('a refused connection fails over to the next URL', async () => {
  const dead = `http://127.0.0.1:${await deadPort()}`;
  await withStub(accept(), async (stub) => {
    const p = createPublisher({
      url: [dead, stub.url],
      maxBatchEvents: 1,
      maxInFlight: 1,
      ...fast,
    });
    await p.publish([ev(1), ev(2), ev(3), ev(4)]);
    const c = p.counters();
    assert.equal(stub.requests.length, 4);
    assert.equal(c.networkErrors, 1, 'the dead URL is avoided after its first failure');
    assert.equal(c.eventsMaybeRedelivered, 0, 'a refused connection delivered nothing');
    await p.close();
  });
});

void test('requests round-robin over several URLs', async () => {
  await withStub(accept(), async (a) => {
    await withStub(accept(), async (b) => {
      const p = createPublisher({ url: [a.url, b.url], maxBatchEvents: 1, maxInFlight: 1 });
      await p.publish(Array.from({ length: 6 }, (_, i) => ev(i)));
      assert.equal(a.requests.length, 3);
      assert.equal(b.requests.length, 3);
      await p.close();
    });
  });
});

void test('the API key is sent as a bearer token', async () => {
  await withStub(accept(), async (stub) => {
    const p = createPublisher({ url: `${stub.url}/`, apiKey: 's3cret' });
    await p.publish(ev(1));
    assert.equal(stub.requests[0]?.headers.authorization, 'Bearer s3cret');
    assert.equal(stub.requests[0]?.headers['content-type'], 'application/json');
    assert.equal(stub.requests[0]?.url, '/publish');
    await p.close();
  });
});

void test('a base URL with a path prefix is kept', async () => {
  await withStub(accept(), async (stub) => {
    const p = createPublisher({ url: `${stub.url}/logsieve/` });
    await p.publish(ev(1));
    assert.equal(stub.requests[0]?.url, '/logsieve/publish');
    await p.close();
  });
});

void test('an ignored failed publish() does not crash; flush() reports it', async () => {
  await withStub(
    (_r, res) => json(res, 401, { error: 'unauthorized', message: 'no key', details: [] }),
    async (stub) => {
      const p = createPublisher({ url: stub.url, lingerMs: 1 });
      void p.publish(ev(1));
      await assert.rejects(
        p.flush(),
        (e: unknown) => e instanceof RejectedError && e.status === 401,
      );
      await p.flush(); // reported once
      await p.close();
    },
  );
});

void test('publish() after close() is refused with code closed', async () => {
  await withStub(accept(), async (stub) => {
    const p = createPublisher({ url: stub.url });
    await p.close();
    await p.close(); // idempotent
    await assert.rejects(
      p.publish(ev(1)),
      (e: unknown) => e instanceof PublisherError && e.code === 'closed',
    );
  });
});

void test('aborting the signal stops retrying with code aborted', async () => {
  await withStub(
    (_r, res) => json(res, 503, { error: 'x', message: 'x', details: [] }, { 'retry-after': '30' }),
    async (stub) => {
      const controller = new AbortController();
      const p = createPublisher({ url: stub.url, signal: controller.signal });
      setTimeout(() => controller.abort(), 100);
      const err = await p.send([ev(1)]).catch((e: unknown) => e);
      assert.ok(err instanceof PublisherError);
      assert.equal(err.code, 'aborted');
      await p.close();
    },
  );
});

void test('fetchStats returns the /stats body', async () => {
  await withStub(
    (_r, res) =>
      json(res, 200, { received: 3, unique_processed: 2, duplicate_dropped: 1, queue_depth: 0 }),
    async (stub) => {
      const p = createPublisher({ url: stub.url });
      const s = await p.fetchStats();
      assert.equal(s.received, 3);
      await p.close();
    },
  );
});

void test('publish() waits for room instead of buffering without bound', async () => {
  let inFlight = 0;
  let maxSeen = 0;
  await withStub(
    async (r, res) => {
      inFlight += 1;
      maxSeen = Math.max(maxSeen, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 30));
      inFlight -= 1;
      accept()(r, res);
    },
    async (stub) => {
      const p = createPublisher({
        url: stub.url,
        maxBatchEvents: 10,
        maxInFlight: 1,
        maxQueuedEvents: 20,
      });
      const order: number[] = [];
      const calls = Array.from({ length: 6 }, (_, k) =>
        p.publish(Array.from({ length: 10 }, (_, i) => ev(k * 10 + i))).then(() => order.push(k)),
      );
      await Promise.all(calls);
      assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
      assert.equal(stub.requests.length, 6);
      assert.equal(maxSeen, 1);
      await p.close();
    },
  );
});

void test('an event JSON cannot encode fails its publish() and sends nothing', async () => {
  await withStub(accept(), async (stub) => {
    const p = createPublisher({ url: stub.url, lingerMs: 1 });
    const bad = { ...ev(2), payload: { n: 1n } };
    await assert.rejects(p.publish([ev(1), bad]), TypeError);
    await p.close();
    assert.equal(stub.requests.length, 0);
  });
});
