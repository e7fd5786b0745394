/** API keys, backpressure (503 + Retry-After, nothing accepted) and draining shutdown. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from '../../src/adapters/sqlite/driver.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { makeEvent, makeEvents } from '../helpers/events.js';
import { getJson, postJson, stats, waitIdle, type ErrorBody } from '../helpers/http.js';
import { removeDir } from '../helpers/tmp.js';

const KEYS = ['test-key-0001-abcdef', 'test-key-0002-abcdef'];

void describe('API keys on /publish', () => {
  let t: TestApp;
  before(async () => {
    // Reads open so the counters can be checked without a key (access.test.ts covers keys
    // on reads).
    t = await startApp({ API_KEYS: KEYS.join(','), PUBLIC_READS: 'true' });
  });
  after(() => t.close());

  const bad: [string, Record<string, string>][] = [
    ['no Authorization header', {}],
    ['a wrong bearer key', { authorization: 'Bearer test-key-9999-abcdef' }],
    ['a key prefix', { authorization: 'Bearer test-key-0001-abcde' }],
    ['another scheme', { authorization: `Basic ${KEYS[0] ?? ''}` }],
    ['an empty bearer', { authorization: 'Bearer ' }],
  ];
  for (const [name, headers] of bad) {
    void it(`answers 401 to ${name} and accepts nothing`, async () => {
      const s0 = await stats(t.url);
      const res = await postJson<ErrorBody>(`${t.url}/publish`, makeEvent(), headers);
      assert.equal(res.status, 401);
      assert.equal(res.body.error, 'unauthorized');
      const s1 = await stats(t.url);
      assert.equal(s1.received, s0.received);
      assert.equal(s1.rejected, s0.rejected + 1);
    });
  }

  void it('answers 202 to each configured key', async () => {
    for (const key of KEYS) {
      const res = await postJson(`${t.url}/publish`, makeEvent(), {
        authorization: `Bearer ${key}`,
      });
      assert.equal(res.status, 202);
    }
  });

  void it('keeps reads open without a key when PUBLIC_READS=true', async () => {
    for (const path of ['/events', '/stats', '/topics', '/healthz', '/readyz']) {
      assert.equal((await getJson(`${t.url}${path}`)).status, 200, path);
    }
  });
});

void describe('backpressure', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ QUEUE_MAX: '100', WORKERS: '1' });
  });
  after(() => t.close());

  void it('answers 413 to one request larger than the whole queue: it could never fit', async () => {
    const s0 = await stats(t.url);
    const res = await postJson<ErrorBody>(`${t.url}/publish`, makeEvents(101));
    assert.equal(res.status, 413);
    assert.equal(res.body.error, 'batch_too_large');
    assert.equal((await waitIdle(t.url)).received, s0.received);
  });

  void it('answers 503 queue_full with Retry-After when the queue is full, accepting none of that request', async () => {
    // Two requests of 60 against QUEUE_MAX=100: whichever comes second does not fit while
    // the first is still queued. A fast consumer can empty the queue in between, so try a
    // bounded number of times.
    let refused: { res: Awaited<ReturnType<typeof postJson<ErrorBody>>>; grew: number } | null =
      null;
    for (let attempt = 0; attempt < 20 && refused === null; attempt++) {
      const s0 = await waitIdle(t.url);
      const results = await Promise.all([
        postJson<ErrorBody>(`${t.url}/publish`, makeEvents(60)),
        postJson<ErrorBody>(`${t.url}/publish`, makeEvents(60)),
      ]);
      const s1 = await waitIdle(t.url);
      const res = results.find((r) => r.status === 503);
      if (res !== undefined) refused = { res, grew: s1.received - s0.received };
    }
    assert.ok(refused !== null, 'a full queue answered 503 at least once in 20 tries');
    assert.equal(refused.res.body.error, 'queue_full');
    assert.deepEqual(Object.keys(refused.res.body).sort(), ['details', 'error', 'message']);
    const retryAfter = Number(refused.res.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, 'Retry-After in seconds');
    assert.equal(refused.grew, 60, 'only the request that fitted was received');
  });

  void it('accepts a request that fits once the queue has room', async () => {
    const s0 = await waitIdle(t.url);
    assert.equal((await postJson(`${t.url}/publish`, makeEvents(100))).status, 202);
    assert.equal((await waitIdle(t.url)).unique_processed, s0.unique_processed + 100);
  });
});

void describe('shutdown (what SIGTERM runs)', () => {
  void it('answers 503 to /publish and drains every queued event before closing', async () => {
    const t = await startApp({ WORKERS: '1', BATCH_MAX: '50' });
    try {
      const events = makeEvents(5_000, { topic: 'drain' });
      assert.equal((await postJson(`${t.url}/publish`, events)).status, 202);
      const closing = t.app.close();
      const during = await t.app.server.inject({
        method: 'POST',
        url: '/publish',
        payload: makeEvent(),
      });
      assert.equal(during.statusCode, 503);
      assert.ok(during.headers['retry-after'] !== undefined);
      const ready = await t.app.server.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 503, '/readyz reports not ready while draining');
      await closing;

      const db = new Database(join(t.dataDir, 'events.db'), { readonly: true });
      try {
        const rows = db.prepare('SELECT count(*) AS n FROM events').get() as {
          n: number;
        };
        assert.equal(rows.n, 5_000, 'every queued event was stored before close resolved');
      } finally {
        db.close();
      }
      const again = await startApp({}, { dataDir: t.dataDir });
      try {
        const s = await stats(again.url);
        assert.deepEqual(
          [s.received, s.unique_processed, s.duplicate_dropped, s.queue_depth],
          [5_000, 5_000, 0, 0],
          'nothing was left queued for the next start',
        );
      } finally {
        await again.close({ keepDir: true });
      }
    } finally {
      await t.app.close();
      await removeDir(t.dataDir);
    }
  });
});
