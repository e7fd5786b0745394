/** Reads: GET /events filters and paging, GET /events/:topic/:event_id, /topics, health. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startApp, type TestApp } from '../helpers/app.js';
import { keyOf, makeEvent, type TestEvent } from '../helpers/events.js';
import {
  allEvents,
  getJson,
  postJson,
  waitIdle,
  type ErrorBody,
  type StoredEventBody,
} from '../helpers/http.js';

interface WaitResult {
  readonly accepted: number;
  readonly results: { topic: string; event_id: string; status: string; offset: number | null }[];
}

interface TopicRow {
  readonly topic: string;
  readonly unique: number;
  readonly duplicates: number;
  readonly last_offset: number | null;
  readonly last_processed_at: string | null;
}

void describe('reading stored events', () => {
  let t: TestApp;
  const sent: TestEvent[] = [];
  before(async () => {
    t = await startApp({ WORKERS: '2' });
    for (let i = 0; i < 60; i++) {
      sent.push(
        makeEvent({
          topic: ['login', 'order', 'app/prod/api'][i % 3] as string,
          source: i % 2 === 0 ? 'even-svc' : 'odd-svc',
          event_id: `ev-${String(i).padStart(3, '0')}`,
          payload: { i },
        }),
      );
    }
    // Two requests so offsets span requests; the second also re-sends three events.
    assert.equal((await postJson(`${t.url}/publish`, sent.slice(0, 30))).status, 202);
    const again = [...sent.slice(30), ...sent.slice(0, 3)];
    assert.equal((await postJson(`${t.url}/publish`, { events: again })).status, 202);
    await waitIdle(t.url);
  });
  after(() => t.close());

  void it('returns every unique event once, in strictly increasing offset order', async () => {
    const rows = await allEvents(t.url);
    assert.equal(rows.length, 60);
    assert.deepEqual(new Set(rows.map(keyOf)), new Set(sent.map(keyOf)));
    for (let i = 1; i < rows.length; i++) {
      assert.ok((rows[i] as StoredEventBody).offset > (rows[i - 1] as StoredEventBody).offset);
    }
    const first = rows[0] as StoredEventBody;
    assert.deepEqual(Object.keys(first).sort(), [
      'event_id',
      'offset',
      'payload',
      'processed_at',
      'source',
      'timestamp',
      'topic',
    ]);
    assert.equal(first.timestamp, '2025-10-24T00:00:00.000Z', 'stored normalised to UTC');
  });

  void it('pages with after=<last offset> and limit, seeing each event once', async () => {
    const everything = await allEvents(t.url);
    const paged = await allEvents(t.url, {}, 7);
    assert.deepEqual(
      paged.map((r) => r.offset),
      everything.map((r) => r.offset),
    );
  });

  void it('pages backwards with order=desc', async () => {
    const asc = await allEvents(t.url);
    const res = await getJson<StoredEventBody[]>(`${t.url}/events?order=desc&limit=5`);
    assert.deepEqual(
      res.body.map((r) => r.offset),
      asc
        .map((r) => r.offset)
        .reverse()
        .slice(0, 5),
    );
  });

  void it('pages backwards through everything with order=desc and before=<last offset>', async () => {
    const asc = await allEvents(t.url);
    const seen: number[] = [];
    let before = '';
    for (let page = 0; page < 100; page++) {
      const res = await getJson<StoredEventBody[]>(`${t.url}/events?order=desc&limit=7${before}`);
      assert.equal(res.status, 200);
      seen.push(...res.body.map((r) => r.offset));
      const last = res.body.at(-1);
      if (last === undefined || res.body.length < 7) break;
      before = `&before=${last.offset}`;
    }
    assert.deepEqual(seen, asc.map((r) => r.offset).reverse());
  });

  void it('filters by exact topic and by exact source', async () => {
    const login = await allEvents(t.url, { topic: 'login' });
    assert.equal(login.length, 20);
    assert.ok(login.every((r) => r.topic === 'login'));
    const nested = await allEvents(t.url, { topic: 'app/prod/api' });
    assert.equal(nested.length, 20);
    const odd = await allEvents(t.url, { source: 'odd-svc', topic: 'order' });
    assert.equal(odd.length, 10);
    assert.ok(odd.every((r) => r.source === 'odd-svc' && r.topic === 'order'));
    assert.equal((await allEvents(t.url, { topic: 'log' })).length, 0, 'topic is exact');
  });

  void it('starts after the given offset, exclusive', async () => {
    const rows = await allEvents(t.url);
    const pivot = (rows[9] as StoredEventBody).offset;
    const res = await getJson<StoredEventBody[]>(`${t.url}/events?after=${pivot}&limit=3`);
    assert.deepEqual(
      res.body.map((r) => r.offset),
      rows.slice(10, 13).map((r) => r.offset),
    );
  });

  void it('gets one event by topic and event_id', async () => {
    const res = await getJson<StoredEventBody>(`${t.url}/events/login/ev-000`);
    assert.equal(res.status, 200);
    assert.equal(res.body.event_id, 'ev-000');
    assert.deepEqual(res.body.payload, { i: 0 });
  });

  void it('gets an event of a hierarchical topic with %2F and with raw slashes', async () => {
    const encoded = await getJson<StoredEventBody>(`${t.url}/events/app%2Fprod%2Fapi/ev-002`);
    assert.equal(encoded.status, 200);
    assert.equal(encoded.body.topic, 'app/prod/api');
    const raw = await getJson<StoredEventBody>(`${t.url}/events/app/prod/api/ev-002`);
    assert.equal(raw.status, 200);
    assert.deepEqual(raw.body, encoded.body);
  });

  void it('answers 404 with the error shape for an unknown event or topic', async () => {
    for (const path of ['/events/login/nope', '/events/nope/ev-000', '/events/app/prod/nope']) {
      const res = await getJson<ErrorBody>(`${t.url}${path}`);
      assert.equal(res.status, 404, path);
      assert.equal(res.body.error, 'not_found');
    }
  });

  void it('counts unique events and duplicates per topic in /topics', async () => {
    const res = await getJson<TopicRow[]>(`${t.url}/topics`);
    assert.equal(res.status, 200);
    const byTopic = new Map(res.body.map((r) => [r.topic, r]));
    assert.deepEqual([...byTopic.keys()].sort(), ['app/prod/api', 'login', 'order']);
    // sent[0..2] were re-sent once: one duplicate in each topic.
    for (const row of res.body) {
      assert.equal(row.unique, 20, row.topic);
      assert.equal(row.duplicates, 1, row.topic);
      assert.equal(typeof row.last_offset, 'number');
      assert.equal(typeof row.last_processed_at, 'string');
    }
    const rows = await allEvents(t.url, { topic: 'order' });
    assert.equal(byTopic.get('order')?.last_offset, rows.at(-1)?.offset);
  });

  void it('answers /healthz and /readyz while running', async () => {
    assert.deepEqual((await getJson(`${t.url}/healthz`)).body, { status: 'ok' });
    const ready = await getJson<{ status: string }>(`${t.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.status, 'ready');
  });
});

void describe('POST /publish?wait=true', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp();
  });
  after(() => t.close());

  void it('answers 200 with per-item stored/duplicate results and offsets', async () => {
    const a = makeEvent({ topic: 'w' });
    const b = makeEvent({ topic: 'w' });
    const res = await postJson<WaitResult>(`${t.url}/publish?wait=true`, [a, b, a]);
    assert.equal(res.status, 200);
    assert.equal(res.body.accepted, 3);
    const [ra, rb, rdup] = res.body.results;
    assert.equal(ra?.status, 'stored');
    assert.equal(rb?.status, 'stored');
    assert.equal(rdup?.status, 'duplicate');
    assert.equal(rdup?.offset, ra?.offset, 'a duplicate points at the stored copy');
    assert.ok((ra?.offset ?? 0) < (rb?.offset ?? 0));
    assert.deepEqual(
      res.body.results.map((r) => r.event_id),
      [a.event_id, b.event_id, a.event_id],
    );
    const again = await postJson<WaitResult>(`${t.url}/publish?wait=true`, b);
    assert.deepEqual(again.body.results[0], {
      topic: 'w',
      event_id: b.event_id,
      status: 'duplicate',
      offset: rb?.offset,
    });
  });
});

void describe('reading one event whose id holds characters a path would split', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({});
  });
  after(() => t.close());

  void it('gets an event whose id holds an encoded slash, with raw slashes in the topic', async () => {
    const event = makeEvent({ topic: 'app/prod/api', event_id: 'x/y z?#%', payload: { odd: 1 } });
    assert.equal((await postJson(`${t.url}/publish?wait=true`, event)).status, 200);
    const id = encodeURIComponent(event.event_id);
    for (const path of [`/events/app%2Fprod%2Fapi/${id}`, `/events/app/prod/api/${id}`]) {
      const res = await getJson<StoredEventBody>(`${t.url}${path}`);
      assert.equal(res.status, 200, path);
      assert.equal(res.body.topic, 'app/prod/api', path);
      assert.equal(res.body.event_id, 'x/y z?#%', path);
    }
  });
});
