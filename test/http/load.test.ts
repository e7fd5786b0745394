/**
 * 20,000 events with 30 % duplicates, published concurrently in batches of 500: exact
 * counts, exactly the unique set readable, every drop logged, and the stats invariant true
 * in every /stats sample taken while the load runs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startApp, type TestApp } from '../helpers/app.js';
import {
  chunk,
  keyOf,
  makeEvent,
  prng,
  runPool,
  shuffle,
  type TestEvent,
} from '../helpers/events.js';
import { allEvents, getJson, postJson, stats, waitIdle, type StatsBody } from '../helpers/http.js';

const UNIQUE = 14_000;
const DUPLICATES = 6_000;

const invariant = (s: StatsBody): boolean =>
  s.received === s.unique_processed + s.duplicate_dropped + s.queue_depth;

void describe('20,000 events with 30 % duplicates', () => {
  let t: TestApp;
  const rand = prng(20_000);
  const uniques: TestEvent[] = Array.from({ length: UNIQUE }, (_, i) =>
    makeEvent({ topic: i % 3 === 0 ? 'login' : 'order', event_id: `u-${i}`, payload: { i } }),
  );
  const copies = Array.from(
    { length: DUPLICATES },
    () => uniques[Math.floor(rand() * UNIQUE)] as TestEvent,
  );
  const sent = shuffle([...uniques, ...copies], rand);
  const samples: StatsBody[] = [];
  let statuses: number[] = [];

  before(async () => {
    t = await startApp({ WORKERS: '2' });
    let publishing = true;
    const sampler = (async () => {
      for (let i = 0; i < 5_000 && publishing; i++) samples.push(await stats(t.url));
    })();
    const batches = chunk(sent, 500);
    try {
      statuses = await runPool(
        batches.map((b) => async () => (await postJson(`${t.url}/publish`, b)).status),
        4,
      );
    } finally {
      publishing = false;
      await sampler;
    }
    for (let i = 0; i < 20; i++) samples.push(await stats(t.url));
    samples.push(await waitIdle(t.url));
  });
  after(() => t.close());

  void it('accepts every batch with 202', () => {
    assert.equal(statuses.length, 40);
    assert.ok(
      statuses.every((s) => s === 202),
      statuses.join(','),
    );
  });

  void it('ends with exact counts: unique 14,000 and duplicates 6,000', async () => {
    const s = await waitIdle(t.url);
    assert.equal(new Set(sent.map(keyOf)).size, UNIQUE);
    assert.equal(s.received, UNIQUE + DUPLICATES);
    assert.equal(s.unique_processed, UNIQUE);
    assert.equal(s.duplicate_dropped, DUPLICATES);
    assert.equal(s.queue_depth, 0);
    assert.deepEqual([...s.topics].sort(), ['login', 'order']);
  });

  void it('keeps received = unique + duplicates + queue_depth in every sample during load', () => {
    assert.ok(samples.length > 20);
    for (const s of samples) assert.ok(invariant(s), JSON.stringify(s));
    for (let i = 1; i < samples.length; i++) {
      const [a, b] = [samples[i - 1] as StatsBody, samples[i] as StatsBody];
      assert.ok(b.received >= a.received && b.unique_processed >= a.unique_processed);
    }
  });

  void it('returns exactly the unique set from /events, each key once', async () => {
    const rows = await allEvents(t.url);
    assert.equal(rows.length, UNIQUE);
    const keys = rows.map(keyOf);
    assert.equal(new Set(keys).size, UNIQUE);
    assert.deepEqual(new Set(keys), new Set(uniques.map(keyOf)));
    for (const r of rows) assert.deepEqual(r.payload, { i: Number(r.event_id.slice(2)) });
  });

  void it('returns 1,000 events when no limit is given', async () => {
    const res = await getJson<unknown[]>(`${t.url}/events`);
    assert.equal(res.body.length, 1_000);
  });

  void it('logs every dropped duplicate with its topic and event_id', () => {
    const expected = new Map<string, number>();
    for (const e of sent) expected.set(keyOf(e), (expected.get(keyOf(e)) ?? -1) + 1);
    const logged = new Map<string, number>();
    for (const l of t.duplicateLogs()) {
      assert.equal(typeof l.topic, 'string');
      assert.equal(typeof l.event_id, 'string');
      assert.equal(l.msg, `duplicate dropped topic=${l.topic} event_id=${l.event_id}`);
      const k = keyOf({ topic: l.topic ?? '', event_id: l.event_id ?? '' });
      logged.set(k, (logged.get(k) ?? 0) + 1);
    }
    for (const [k, n] of expected) if (n === 0) expected.delete(k);
    assert.equal(t.duplicateLogs().length, DUPLICATES);
    assert.deepEqual(logged, expected);
  });
});
