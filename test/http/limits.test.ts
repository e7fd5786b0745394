/**
 * Reads that stay bounded, over HTTP: /topics paged by name, /stats listing at most 1,000
 * topic names plus topics_total, MAX_SUBSCRIBERS (503 beyond), a subscriber that stops
 * reading is cut instead of buffered, and payload keys such as __proto__ kept as data.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { STALL_MS } from '../../src/http/routes/subscribe.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { makeEvent } from '../helpers/events.js';
import { getJson, postJson, stats, waitIdle, type StoredEventBody } from '../helpers/http.js';
import { sleep } from '../helpers/tmp.js';

interface TopicRow {
  readonly topic: string;
  readonly unique: number;
}

void describe('/topics and /stats over 3,000 topics', () => {
  let t: TestApp;
  const names = Array.from({ length: 3_000 }, (_, i) => `topic-${String(i).padStart(4, '0')}`);
  before(async () => {
    t = await startApp();
    // Published in a shuffled order: the pages must come back in name order anyway.
    const shuffled = [...names].sort((a, b) =>
      a.split('').reverse() > b.split('').reverse() ? 1 : -1,
    );
    for (let i = 0; i < shuffled.length; i += 1_000) {
      const batch = shuffled.slice(i, i + 1_000).map((topic) => makeEvent({ topic }));
      assert.equal((await postJson(`${t.url}/publish`, batch)).status, 202);
    }
    await waitIdle(t.url);
  });
  after(() => t.close());

  void it('pages /topics by name: 1,000 by default, then after=<last name>', async () => {
    const seen: string[] = [];
    let query = '';
    for (let page = 0; page < 10; page++) {
      const res = await getJson<TopicRow[]>(`${t.url}/topics${query}`);
      assert.equal(res.status, 200);
      if (page < 3) assert.equal(res.body.length, 1_000, `page ${page}`);
      seen.push(...res.body.map((r) => r.topic));
      const last = res.body.at(-1);
      if (last === undefined) break;
      query = `?after=${encodeURIComponent(last.topic)}`;
    }
    assert.deepEqual(seen, names);
  });

  void it('honours limit and refuses a bad one', async () => {
    const res = await getJson<TopicRow[]>(`${t.url}/topics?limit=7&after=topic-0100`);
    assert.deepEqual(
      res.body.map((r) => r.topic),
      names.slice(101, 108),
    );
    for (const q of [
      'limit=0',
      'limit=10001',
      'limit=Infinity',
      'after=' + 'x'.repeat(201),
      'x=1',
    ]) {
      assert.equal((await getJson(`${t.url}/topics?${q}`)).status, 400, q);
    }
  });

  void it('lists the first 1,000 topic names in /stats and counts all in topics_total', async () => {
    const s = (await stats(t.url)) as Awaited<ReturnType<typeof stats>> & { topics_total: number };
    assert.equal(s.topics_total, 3_000);
    assert.deepEqual(s.topics, names.slice(0, 1_000));
  });
});

void describe('payload keys that name prototypes', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp();
  });
  after(() => t.close());

  void it('stores __proto__, constructor and prototype as own properties and returns them exactly', async () => {
    const payload =
      '{"__proto__":{"admin":true},"constructor":{"prototype":{"polluted":1}},"prototype":[1,2],"nested":{"__proto__":null}}';
    const body = `{"topic":"proto","event_id":"p1","timestamp":"2025-10-24T00:00:00Z","source":"s","payload":${payload}}`;
    const res = await postJson(`${t.url}/publish?wait=true`, body, {
      'content-type': 'application/json',
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    for (const path of ['/events/proto/p1', '/events?topic=proto']) {
      const r = await fetch(`${t.url}${path}`);
      const text = await r.text();
      assert.ok(text.includes(`"payload":${payload}`), `${path} returns the exact text: ${text}`);
    }
    const one = await getJson<StoredEventBody>(`${t.url}/events/proto/p1`);
    assert.ok(Object.hasOwn(one.body.payload, '__proto__'));
    assert.deepEqual(Object.keys(one.body.payload), [
      '__proto__',
      'constructor',
      'prototype',
      'nested',
    ]);
    assert.equal(({} as Record<string, unknown>).admin, undefined, 'no prototype was touched');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

/** Opens a subscription and resolves with its status; the stream stays open until `close`. */
async function subscribe(url: string): Promise<{ status: number; close: () => void }> {
  const abort = new AbortController();
  const res = await fetch(`${url}/subscribe`, { signal: abort.signal });
  return {
    status: res.status,
    close: () => {
      abort.abort();
      void res.body?.cancel().catch(() => undefined);
    },
  };
}

void describe('MAX_SUBSCRIBERS', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ MAX_SUBSCRIBERS: '2' });
  });
  after(() => t.close());

  void it('answers 503 with Retry-After beyond the limit, and 200 again once a slot is free', async () => {
    const a = await subscribe(t.url);
    const b = await subscribe(t.url);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    const res = await fetch(`${t.url}/subscribe`);
    assert.equal(res.status, 503);
    assert.ok(Number(res.headers.get('retry-after')) > 0);
    const body = (await res.json()) as { error: string };
    assert.equal(body.error, 'unavailable');
    a.close();
    let again = 0;
    for (let i = 0; i < 100 && again !== 200; i++) {
      await sleep(50);
      const c = await subscribe(t.url);
      again = c.status;
      c.close();
    }
    assert.equal(again, 200, 'a closed stream frees its slot');
    b.close();
  });
});

void describe('HEAD /subscribe', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ MAX_SUBSCRIBERS: '2' });
  });
  after(() => t.close());

  // Found by an outside probe: HEAD ran the stream's handler, never answered (a HEAD
  // response never blocks on writes, so the stall cut never fired) and held a slot until the
  // client left; two monitoring probes locked every subscriber out.
  void it('answers HEAD at once with the stream headers, without taking a slot', async () => {
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${t.url}/subscribe?topic=x`, {
        method: 'HEAD',
        signal: AbortSignal.timeout(5_000),
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    }
    const a = await subscribe(t.url);
    const b = await subscribe(t.url);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    a.close();
    b.close();
  });
});

void describe('a subscriber that stops reading', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ MAX_SUBSCRIBERS: '1' });
    // ~24 MB of events: more than the kernel's socket buffers can hide.
    const pad = 'z'.repeat(8 * 1024);
    for (let r = 0; r < 6; r++) {
      const batch = Array.from({ length: 500 }, (_, i) =>
        makeEvent({ topic: 'flood', payload: { r, i, pad } }),
      );
      assert.equal((await postJson(`${t.url}/publish`, batch)).status, 202);
    }
    await waitIdle(t.url);
  });
  after(() => t.close());

  void it('is disconnected (its slot freed, a warning logged) instead of being buffered', async () => {
    const port = new URL(t.url).port;
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write('GET /subscribe HTTP/1.1\r\nHost: localhost\r\n\r\n');
    // Read the first chunk (the stream is open), then stop reading altogether.
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.pause();
    const started = Date.now();
    assert.equal((await subscribe(t.url)).status, 503, 'the stalled stream holds the only slot');
    let status = 503;
    while (status === 503 && Date.now() - started < STALL_MS + 20_000) {
      await sleep(500);
      const s = await subscribe(t.url);
      status = s.status;
      s.close();
    }
    socket.destroy();
    assert.equal(status, 200, 'the stalled subscriber was cut and its slot freed');
    assert.ok(
      t.logs.some((l) => l.msg.startsWith('subscriber disconnected')),
      'the disconnect is logged',
    );
  });
});
