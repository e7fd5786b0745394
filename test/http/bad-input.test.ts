/**
 * Bad input on POST /publish and GET /events: a clear 4xx with the SPEC error shape, no
 * counter changed except `rejected`, nothing enqueued, and the server keeps serving.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startApp, type TestApp } from '../helpers/app.js';
import { makeEvent } from '../helpers/events.js';
import { getJson, postJson, stats, type ErrorBody, type StatsBody } from '../helpers/http.js';

const JSON_CT = { 'content-type': 'application/json' };
const MAX_PAYLOAD_BYTES = 1024;
const MAX_BODY_BYTES = 2 * 1024 * 1024;

interface BadPublish {
  readonly name: string;
  readonly body: unknown;
  readonly headers?: Record<string, string>;
  readonly query?: string;
  readonly status: number;
  readonly error: string;
  /** Expected `index:field` of details, sorted, when the error lists bad items. */
  readonly details?: string[];
}

const tiny = { topic: 't', event_id: '1', timestamp: '2025-10-24T00:00:00Z', source: 's' };

const cases: BadPublish[] = [
  {
    name: 'malformed JSON',
    body: '{"topic": ',
    headers: JSON_CT,
    status: 400,
    error: 'invalid_json',
  },
  { name: 'an empty JSON body', body: '', headers: JSON_CT, status: 400, error: 'invalid_json' },
  {
    name: 'a text/plain content type',
    body: JSON.stringify(makeEvent()),
    headers: { 'content-type': 'text/plain' },
    status: 415,
    error: 'unsupported_media_type',
  },
  {
    name: 'a form content type',
    body: 'topic=orders',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    status: 415,
    error: 'unsupported_media_type',
  },
  {
    name: 'no content type',
    body: new TextEncoder().encode(JSON.stringify(makeEvent())),
    headers: {},
    status: 415,
    error: 'unsupported_media_type',
  },
  {
    name: 'a missing field',
    body: { ...tiny, payload: undefined },
    status: 400,
    error: 'validation_failed',
    details: ['0:payload'],
  },
  {
    name: 'an extra field',
    body: { ...makeEvent(), level: 'info' },
    status: 400,
    error: 'validation_failed',
    details: ['0:level'],
  },
  {
    name: 'a mistyped field',
    body: { ...makeEvent(), payload: [1, 2] },
    status: 400,
    error: 'validation_failed',
    details: ['0:payload'],
  },
  {
    name: 'a timestamp without offset',
    body: makeEvent({ timestamp: '2025-10-24T00:00:00' }),
    status: 400,
    error: 'validation_failed',
    details: ['0:timestamp'],
  },
  {
    name: 'a 201-character topic',
    body: makeEvent({ topic: 'a'.repeat(201) }),
    status: 400,
    error: 'validation_failed',
    details: ['0:topic'],
  },
  {
    name: 'a control character in event_id',
    body: makeEvent({ event_id: 'abc\u0007' }),
    status: 400,
    error: 'validation_failed',
    details: ['0:event_id'],
  },
  {
    name: 'a payload over MAX_PAYLOAD_BYTES',
    body: makeEvent({ payload: { s: 'x'.repeat(MAX_PAYLOAD_BYTES) } }),
    status: 400,
    error: 'validation_failed',
    details: ['0:payload'],
  },
  {
    name: 'a payload nested deeper than the stack allows',
    body: `{"topic":"t","event_id":"deep","timestamp":"2025-10-24T00:00:00Z","source":"s","payload":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}`,
    headers: JSON_CT,
    status: 400,
    error: 'validation_failed',
    details: ['0:payload'],
  },
  {
    name: 'two bad events among valid ones (all-or-nothing)',
    body: {
      events: [
        makeEvent(),
        makeEvent({ source: '' }),
        makeEvent({ timestamp: 'now' }),
        makeEvent(),
      ],
    },
    status: 400,
    error: 'validation_failed',
    details: ['1:source', '2:timestamp'],
  },
  {
    name: '10,001 events',
    body: Array.from({ length: 10_001 }, () => ({ ...tiny, payload: {} })),
    status: 413,
    error: 'batch_too_large',
  },
  {
    name: 'a body over MAX_BODY_BYTES',
    body: makeEvent({ payload: { s: 'x'.repeat(MAX_BODY_BYTES) } }),
    status: 413,
    error: 'body_too_large',
  },
  { name: 'an empty array', body: [], status: 400, error: 'empty_batch' },
  { name: 'a bare number', body: '42', headers: JSON_CT, status: 400, error: 'invalid_body' },
  {
    name: 'an envelope with another key',
    body: { events: [makeEvent()], extra: 1 },
    status: 400,
    error: 'invalid_body',
  },
  {
    name: 'a bad wait parameter',
    body: makeEvent(),
    query: '?wait=maybe',
    status: 400,
    error: 'invalid_query',
  },
  // Bytes that are not UTF-8 were decoded with U+FFFD in their place: two different ids
  // (id-\xe9, id-\xe8) became one, and the second was dropped as its duplicate.
  {
    name: 'a body whose bytes are not UTF-8 (Latin-1 é in an id)',
    body: latin1(JSON.stringify({ ...tiny, event_id: 'id-é', payload: {} })),
    headers: JSON_CT,
    status: 400,
    error: 'invalid_json',
  },
  {
    name: 'an NDJSON body whose bytes are not UTF-8',
    body: latin1(`${JSON.stringify({ ...tiny, payload: { v: 'café' } })}\n`),
    headers: { 'content-type': 'application/x-ndjson' },
    status: 400,
    error: 'invalid_json',
  },
  {
    name: 'a JSON body declared in another charset',
    body: JSON.stringify({ ...tiny, payload: {} }),
    headers: { 'content-type': 'application/json; charset=iso-8859-1' },
    status: 415,
    error: 'unsupported_media_type',
  },
  {
    name: 'a lone surrogate in a payload value',
    body: `{"topic":"t","event_id":"1","timestamp":"2025-10-24T00:00:00Z","source":"s","payload":{"v":"\\ud800"}}`,
    headers: JSON_CT,
    status: 400,
    error: 'validation_failed',
    details: ['0:payload'],
  },
  {
    name: 'a lone surrogate in a payload key',
    body: `{"topic":"t","event_id":"1","timestamp":"2025-10-24T00:00:00Z","source":"s","payload":{"\\udc00x":1}}`,
    headers: JSON_CT,
    status: 400,
    error: 'validation_failed',
    details: ['0:payload'],
  },
];

/** The text in ISO-8859-1 bytes (what a client that ignores UTF-8 sends). */
function latin1(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'latin1'));
}

function assertErrorShape(body: unknown, error: string): ErrorBody {
  assert.ok(body !== null && typeof body === 'object', `error body: ${String(body)}`);
  assert.deepEqual(Object.keys(body).sort(), ['details', 'error', 'message']);
  const e = body as ErrorBody;
  assert.equal(e.error, error, e.message);
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0);
  assert.ok(Array.isArray(e.details));
  return e;
}

const counters = (s: StatsBody): number[] => [
  s.received,
  s.unique_processed,
  s.duplicate_dropped,
  s.queue_depth,
];

void describe('POST /publish rejects bad input', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({
      MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD_BYTES),
      MAX_BODY_BYTES: String(MAX_BODY_BYTES),
    });
  });
  after(() => t.close());

  for (const c of cases) {
    void it(`answers ${c.status} ${c.error} to ${c.name}, changing only 'rejected'`, async () => {
      const s0 = await stats(t.url);
      const res = await postJson(`${t.url}/publish${c.query ?? ''}`, c.body, c.headers);
      assert.equal(res.status, c.status, JSON.stringify(res.body));
      const e = assertErrorShape(res.body, c.error);
      if (c.details !== undefined) {
        const got = e.details.map((d) => `${d.index ?? '-'}:${d.field ?? '-'}`).sort();
        assert.deepEqual(got, c.details);
        for (const d of e.details) assert.ok(d.message.length > 0);
      }
      const s1 = await stats(t.url);
      assert.deepEqual(counters(s1), counters(s0), 'nothing was accepted or processed');
      assert.equal(s1.rejected, s0.rejected + 1);
      assert.equal((await getJson(`${t.url}/healthz`)).status, 200, 'the server keeps serving');
    });
  }

  void it('still accepts a valid event after all the bad ones', async () => {
    const s0 = await stats(t.url);
    const res = await postJson(`${t.url}/publish`, makeEvent());
    assert.equal(res.status, 202);
    assert.deepEqual(res.body, { accepted: 1 });
    assert.equal((await stats(t.url)).received, s0.received + 1);
  });
});

void describe('GET /events rejects bad query parameters', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp();
  });
  after(() => t.close());

  for (const query of [
    'limit=0',
    'limit=10001',
    'limit=abc',
    'after=-1',
    'after=1.5',
    'order=sideways',
    'after=100000000000000000000',
    'unknown=1',
    // Found by a fuzz run: these answered 500 (limit) or 200 (after, before).
    'limit=Infinity',
    'limit=1e309',
    'limit=-Infinity',
    'after=-Infinity',
    'after=Infinity',
    'after=1e400',
    'before=-Infinity',
    'before=Infinity',
    'before=1e400',
    'after=NaN',
    // Found by an outside probe: Number()'s forms, which answered 200.
    'after=0x10',
    'after=0b1',
    'after=%2B5',
    'limit=%201',
    'before=1e3',
    // Found by an outside probe: a name that cannot be a topic answered 200 [].
    'topic=bad%20topic',
    'topic=_x',
  ]) {
    void it(`answers 400 invalid_query to ?${query} and changes no counter`, async () => {
      const s0 = await stats(t.url);
      const res = await getJson(`${t.url}/events?${query}`);
      assert.equal(res.status, 400);
      const e = assertErrorShape(res.body, 'invalid_query');
      assert.ok(e.details.length > 0, 'the bad parameter is named');
      const s1 = await stats(t.url);
      assert.deepEqual([...counters(s1), s1.rejected], [...counters(s0), s0.rejected]);
    });
  }

  void it('refuses the same forms on /topics and /subscribe, and a Last-Event-ID that is not an offset', async () => {
    for (const path of ['/topics?limit=0x10', '/subscribe?after=0x10', '/subscribe?topic=a%20b']) {
      const res = await getJson(`${t.url}${path}`);
      assert.equal(res.status, 400, path);
      assertErrorShape(res.body, 'invalid_query');
    }
    for (const id of ['abc', '-1', '1.5', '0x10']) {
      const res = await fetch(`${t.url}/subscribe`, { headers: { 'last-event-id': id } });
      assert.equal(res.status, 400, id);
      const e = assertErrorShape(await res.json(), 'invalid_query');
      assert.equal(e.details[0]?.field, 'Last-Event-ID');
    }
    // Empty is the SSE spec's reset: the same as no header.
    const controller = new AbortController();
    const open = await fetch(`${t.url}/subscribe?after=0`, {
      headers: { 'last-event-id': '' },
      signal: controller.signal,
    });
    assert.equal(open.status, 200);
    controller.abort();
  });

  void it('lists a non-decimal integer beside the other bad parameters', async () => {
    const res = await getJson(`${t.url}/events?after=0x10&order=DESC`);
    assert.equal(res.status, 400);
    const e = assertErrorShape(res.body, 'invalid_query');
    assert.deepEqual(e.details.map((d) => d.field).sort(), ['after', 'order']);
  });

  void it('names the allowed values of order, once', async () => {
    const res = await getJson(`${t.url}/events?order=DESC`);
    assert.equal(res.status, 400);
    const e = assertErrorShape(res.body, 'invalid_query');
    assert.deepEqual(e.details, [{ field: 'order', message: 'must be one of: asc, desc' }]);
  });

  void it('accepts the limits themselves: limit=1 and limit=10000', async () => {
    assert.equal((await getJson(`${t.url}/events?limit=1`)).status, 200);
    assert.equal((await getJson(`${t.url}/events?limit=10000&order=desc`)).status, 200);
  });

  // Found by an outside probe: these answered 200 and ignored the parameter, so a reader's
  // typo (/stats?topic=x) or a /v1/logs?wait=true looked like it had been honoured.
  void it('answers 400 invalid_query to a parameter on routes that take none', async () => {
    for (const path of ['/stats?topic=a', '/events/a/b?limit=1', '/events/a/b/c?limit=1']) {
      const res = await getJson(`${t.url}${path}`);
      assert.equal(res.status, 400, path);
      assertErrorShape(res.body, 'invalid_query');
    }
    const otlp = await postJson(`${t.url}/v1/logs?wait=true`, { resourceLogs: [] });
    assert.equal(otlp.status, 400);
    assertErrorShape(otlp.body, 'invalid_query');
    // Scrapers and probes add their own parameters (Prometheus `params:`): ignored there.
    for (const path of ['/metrics?format=prometheus', '/healthz?probe=1', '/readyz?probe=1']) {
      assert.equal((await fetch(`${t.url}${path}`)).status, 200, path);
    }
  });

  void it('answers 404 with the error shape for an unknown route', async () => {
    const res = await getJson(`${t.url}/nope`);
    assert.equal(res.status, 404);
    assertErrorShape(res.body, 'not_found');
  });
});

/** Sends `request` as raw bytes and resolves with everything the server wrote before closing. */
function rawExchange(url: string, request: string): Promise<string> {
  const { port, hostname } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within 10 s; read: ${text}`));
    }, 10_000);
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.write(request);
  });
}

// Found by an outside probe: what Fastify and Node's HTTP parser answer before any route runs
// came in Fastify's shape ({"error":"Bad Request","code":"FST_ERR_BAD_URL",...,"statusCode"}
// or "Client Error"), not the {error, message, details} every other error has.
void describe('errors before any route runs keep the error shape', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp();
  });
  after(() => t.close());

  void it('answers 400 invalid_url to a path with malformed percent-encoding', async () => {
    for (const path of ['/events/a%zz/b', '/events/app/a%zz/b']) {
      const res = await getJson(`${t.url}${path}`);
      assert.equal(res.status, 400, path);
      assertErrorShape(res.body, 'invalid_url');
    }
  });

  for (const [name, head, status, error] of [
    ['a Content-Length that is not a number', 'content-length: abc\r\n', 400, 'bad_request'],
    [
      'Content-Length beside Transfer-Encoding: chunked',
      'content-length: 2\r\ntransfer-encoding: chunked\r\n',
      400,
      'bad_request',
    ],
    ['headers over the limit', `x-big: ${'a'.repeat(20_000)}\r\n`, 431, 'headers_too_large'],
  ] as const) {
    void it(`answers ${status} ${error} to ${name}, then closes`, async () => {
      const s0 = await stats(t.url);
      const text = await rawExchange(
        t.url,
        `POST /publish HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n${head}\r\n{}`,
      );
      const [headers = '', body = ''] = text.split('\r\n\r\n');
      assert.match(headers, new RegExp(`^HTTP/1\\.1 ${status} `));
      assert.match(headers, /content-type: application\/json/i);
      assert.match(headers, /connection: close/i);
      assert.equal(Number(/content-length: (\d+)/i.exec(headers)?.[1]), Buffer.byteLength(body));
      assertErrorShape(JSON.parse(body), error);
      const s1 = await stats(t.url);
      assert.deepEqual(counters(s1), counters(s0), 'nothing was received');
    });
  }
});
