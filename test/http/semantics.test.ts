/** Dedup semantics over HTTP: the key, first-wins, racing copies, exact payloads, order. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startApp, type TestApp } from '../helpers/app.js';
import { makeEvent, makeEvents } from '../helpers/events.js';
import {
  allEvents,
  getJson,
  postJson,
  stats,
  waitIdle,
  type ErrorBody,
  type StoredEventBody,
} from '../helpers/http.js';

interface WaitResult {
  readonly results: { status: string; offset: number | null }[];
}

void describe('dedup semantics', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ WORKERS: '4', BATCH_MAX: '100' });
  });
  after(() => t.close());

  void it('stores the same event_id in two topics as two events', async () => {
    const s0 = await stats(t.url);
    const a = makeEvent({ topic: 'twin-a', event_id: 'shared-id' });
    const b = makeEvent({ topic: 'twin-b', event_id: 'shared-id' });
    assert.equal((await postJson(`${t.url}/publish`, [a, b])).status, 202);
    const s1 = await waitIdle(t.url);
    assert.equal(s1.unique_processed, s0.unique_processed + 2);
    assert.equal(s1.duplicate_dropped, s0.duplicate_dropped);
    assert.equal((await getJson(`${t.url}/events/twin-a/shared-id`)).status, 200);
    assert.equal((await getJson(`${t.url}/events/twin-b/shared-id`)).status, 200);
  });

  void it('keeps the first stored copy and drops a later one with a different payload', async () => {
    const first = makeEvent({ topic: 'first-wins', payload: { version: 1 } });
    const later = { ...first, payload: { version: 2 }, source: 'other-svc' };
    assert.equal((await postJson(`${t.url}/publish?wait=true`, first)).status, 200);
    const s0 = await stats(t.url);
    assert.equal((await postJson(`${t.url}/publish`, later)).status, 202);
    const s1 = await waitIdle(t.url);
    assert.equal(s1.duplicate_dropped, s0.duplicate_dropped + 1);
    assert.equal(s1.unique_processed, s0.unique_processed);
    const got = await getJson<StoredEventBody>(`${t.url}/events/first-wins/${first.event_id}`);
    assert.deepEqual(got.body.payload, { version: 1 });
    assert.equal(got.body.source, first.source);
    const lines = t.duplicateLogs().filter((l) => l.event_id === first.event_id);
    assert.equal(lines.length, 1, 'the drop is logged');
    assert.equal(lines[0]?.topic, 'first-wins');
  });

  void it('stores an event once when 50 parallel requests carry it', async () => {
    const s0 = await stats(t.url);
    const e = makeEvent({ topic: 'race' });
    const results = await Promise.all(
      Array.from({ length: 50 }, () => postJson(`${t.url}/publish`, e)),
    );
    assert.ok(results.every((r) => r.status === 202));
    const s1 = await waitIdle(t.url);
    assert.equal(s1.received, s0.received + 50);
    assert.equal(s1.unique_processed, s0.unique_processed + 1);
    assert.equal(s1.duplicate_dropped, s0.duplicate_dropped + 49);
    assert.equal((await allEvents(t.url, { topic: 'race' })).length, 1);
  });

  void it('keeps the payload of the copy reported stored when 20 different copies race', async () => {
    const base = makeEvent({ topic: 'race-payload' });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, v) =>
        postJson<WaitResult>(`${t.url}/publish?wait=true`, { ...base, payload: { v } }),
      ),
    );
    const statuses = results.map((r) => r.body.results[0]?.status);
    const winner = statuses.indexOf('stored');
    assert.equal(statuses.filter((s) => s === 'stored').length, 1, statuses.join(','));
    assert.equal(statuses.filter((s) => s === 'duplicate').length, 19);
    const offsets = new Set(results.map((r) => r.body.results[0]?.offset));
    assert.equal(offsets.size, 1, 'every copy points at the one stored row');
    const got = await getJson<StoredEventBody>(`${t.url}/events/race-payload/${base.event_id}`);
    assert.deepEqual(got.body.payload, { v: winner });
  });

  void it('round-trips nested and unicode payloads exactly', async () => {
    const payloads: Record<string, unknown>[] = [
      { emoji: '😀👩‍👩‍👧‍👦🏳️‍🌈', cjk: '日志聚合器', rtl: 'مرحبا بالعالم עברית', mixed: 'a\u200fb' },
      { quotes: 'say "hi" \\ \'there\'', ctrl: 'line1\nline2\ttab\u0000nul', slash: '</script>' },
      { numbers: [1e21, -0.5, 0, 1.5e-7, 9007199254740991, -1e-300, 123456789.125] },
      { empty: {}, list: [], nil: null, t: true, f: false, s: '' },
      { deep: JSON.parse(`${'{"a":'.repeat(64)}1${'}'.repeat(64)}`) as unknown },
      { 'key with spaces': 1, ключ: 2, '🔑': 3, '': 4 },
    ];
    const events = payloads.map((payload) => makeEvent({ topic: 'unicode', payload }));
    assert.equal((await postJson(`${t.url}/publish`, events)).status, 202);
    await waitIdle(t.url);
    for (const e of events) {
      const got = await getJson<StoredEventBody>(
        `${t.url}/events/unicode/${encodeURIComponent(e.event_id)}`,
      );
      assert.equal(got.status, 200);
      assert.deepStrictEqual(got.body.payload, e.payload);
    }
    const listed = await allEvents(t.url, { topic: 'unicode' });
    assert.deepStrictEqual(
      listed.map((r) => r.payload),
      payloads,
    );
  });

  void it('rejects a payload number outside the float range instead of storing it as null', async () => {
    const e = makeEvent({ topic: 'huge' });
    const text = JSON.stringify(e).replace('"payload":{"n":1}', '"payload":{"n":1E400}');
    const res = await postJson<ErrorBody>(`${t.url}/publish?wait=true`, text, {
      'content-type': 'application/json',
    });
    const stored = await getJson<StoredEventBody>(`${t.url}/events/huge/${e.event_id}`);
    assert.deepEqual(
      [res.status, res.body.error, stored.status],
      [400, 'validation_failed', 404],
      `stored payload: ${JSON.stringify(stored.body.payload)}`,
    );
  });

  void it('round-trips unicode event_ids and sources', async () => {
    const e = makeEvent({ topic: 'ids', event_id: '注文/😀 "q" é', source: 'سرویس' });
    assert.equal((await postJson(`${t.url}/publish?wait=true`, e)).status, 200);
    const got = await getJson<StoredEventBody>(
      `${t.url}/events/ids/${encodeURIComponent(e.event_id)}`,
    );
    assert.equal(got.status, 200);
    assert.equal(got.body.event_id, e.event_id);
    assert.equal(got.body.source, e.source);
  });

  void it('keeps the request order of one request within a topic', async () => {
    // 3,000 events over two topics, more than one batch per worker (BATCH_MAX=100, 4 workers).
    const events = makeEvents(3_000).map((e, i) => ({ ...e, topic: i % 2 ? 'seq-b' : 'seq-a' }));
    assert.equal((await postJson(`${t.url}/publish`, events)).status, 202);
    await waitIdle(t.url);
    for (const topic of ['seq-a', 'seq-b']) {
      const expected = events.filter((e) => e.topic === topic).map((e) => e.event_id);
      const stored = await allEvents(t.url, { topic });
      assert.deepEqual(
        stored.map((r) => r.event_id),
        expected,
        `${topic}: offsets increase in request order`,
      );
    }
  });

  void it('gives every stored event its own offset, and unique_processed equals the rows /events returns', async () => {
    // Its own events (with copies), so the check means something when this test runs alone.
    const events = makeEvents(300, { topic: 'offsets' });
    const body = [...events, ...events.slice(0, 40)];
    assert.equal((await postJson(`${t.url}/publish`, body)).status, 202);
    await waitIdle(t.url);
    const rows = await allEvents(t.url);
    assert.ok(rows.length >= 300);
    assert.equal(new Set(rows.map((r) => r.offset)).size, rows.length);
    const s = await stats(t.url);
    assert.equal(rows.length, s.unique_processed, 'unique_processed = rows /events returns');
  });
});
