/**
 * Operations and live reads: Prometheus metrics, the OpenAPI document and docs, the
 * dashboard page, and Server-Sent Events that resume by offset without gaps or repeats.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startApp, type TestApp } from '../helpers/app.js';
import { makeEvent, makeEvents } from '../helpers/events.js';
import { postJson, waitIdle } from '../helpers/http.js';

interface SseEvent {
  readonly id: number;
  readonly data: { offset: number; topic: string; event_id: string };
}

/** Reads SSE messages from /subscribe until `count` events arrived (bounded in time). */
async function subscribe(
  url: string,
  count: number,
  headers: Record<string, string> = {},
): Promise<SseEvent[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 10_000);
  const res = await fetch(url, { headers, signal: controller.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const message = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const id = /^id: (\d+)$/m.exec(message)?.[1];
        const data = /^data: (.*)$/m.exec(message)?.[1];
        if (id !== undefined && data !== undefined) {
          events.push({ id: Number(id), data: JSON.parse(data) as SseEvent['data'] });
        }
        end = buffer.indexOf('\n\n');
      }
      if (events.length >= count) break;
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}

void describe('operations and live reads', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp();
  });
  after(async () => {
    await t.close();
  });

  void it('exposes Prometheus counters per topic, rejections by code and the queue depth', async () => {
    const first = makeEvent({ topic: 'metrics' });
    assert.equal(
      (await postJson(`${t.url}/publish`, [first, makeEvent({ topic: 'metrics' }), first])).status,
      202,
    );
    assert.equal((await postJson(`${t.url}/publish`, { topic: 'metrics' })).status, 400);
    await waitIdle(t.url);
    const res = await fetch(`${t.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    const text = await res.text();
    assert.match(text, /^logsieve_events_received_total\{topic="metrics"\} 3$/m);
    assert.match(text, /^logsieve_events_unique_total\{topic="metrics"\} 2$/m);
    assert.match(text, /^logsieve_events_duplicate_total\{topic="metrics"\} 1$/m);
    assert.match(text, /^logsieve_publish_rejected_total\{reason="validation_failed"\} 1$/m);
    assert.match(text, /^logsieve_queue_depth 0$/m);
    assert.match(text, /^logsieve_publish_duration_seconds_count\{status="202"\} 1$/m);
    assert.match(text, /^logsieve_processing_lag_seconds_count 2$/m);
    // Process metrics under one prefix (an outside probe found logsieve_process_process_...),
    // and the lifetime expiry count typed as a counter.
    assert.match(text, /^logsieve_process_cpu_user_seconds_total \d/m);
    assert.match(text, /^logsieve_nodejs_heap_size_used_bytes \d/m);
    assert.doesNotMatch(text, /logsieve_process_process_/);
    assert.match(text, /^# TYPE logsieve_events_expired_total counter$/m);
    assert.match(text, /^logsieve_events_expired_total 0$/m);
  });

  void it('serves an OpenAPI 3.1 document generated from the schemas, and interactive docs', async () => {
    const doc = (await (await fetch(`${t.url}/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<
        string,
        Record<string, { requestBody?: unknown; parameters?: { name: string }[] }>
      >;
    };
    assert.equal(doc.openapi, '3.1.0');
    assert.ok(doc.paths['/publish']?.post?.requestBody, '/publish documents its body');
    const params = (doc.paths['/events']?.get?.parameters ?? []).map((p) => p.name).sort();
    assert.deepEqual(params, ['after', 'before', 'limit', 'order', 'source', 'topic']);
    for (const path of ['/stats', '/topics', '/healthz', '/readyz', '/metrics', '/subscribe']) {
      assert.ok(doc.paths[path], `${path} is documented`);
    }
    // Found by an outside probe comparing real answers with the document: parameters with a
    // default were marked required, /metrics was JSON, /subscribe had no event stream and no
    // Last-Event-ID, and /events's x-page-truncated was missing.
    type Op = {
      parameters?: { name: string; in: string; required?: boolean }[];
      responses: Record<
        string,
        { content?: Record<string, unknown>; headers?: Record<string, unknown> }
      >;
    };
    const op = (path: string): Op => doc.paths[path]?.get as unknown as Op;
    const required = (path: string): string[] =>
      (op(path).parameters ?? []).filter((p) => p.required === true).map((p) => p.name);
    assert.deepEqual(required('/events'), []);
    assert.deepEqual(required('/topics'), []);
    assert.deepEqual(Object.keys(op('/metrics').responses['200']?.content ?? {}), [
      'text/plain; version=0.0.4',
    ]);
    assert.deepEqual(Object.keys(op('/subscribe').responses['200']?.content ?? {}), [
      'text/event-stream',
    ]);
    assert.ok(
      (op('/subscribe').parameters ?? []).some(
        (p) => p.in === 'header' && p.name === 'last-event-id',
      ),
      'Last-Event-ID is documented',
    );
    assert.ok(op('/events').responses['200']?.headers?.['x-page-truncated'], 'x-page-truncated');
    const docs = await fetch(`${t.url}/docs/`);
    assert.equal(docs.status, 200);
    const page = await docs.text();
    assert.match(page, /swagger/i);
    // Served through the docs-only instance (src/http/openapi.ts): HEAD keeps the length, a
    // missing file is the API's own not-found answer, a redirect has no body.
    const head = await fetch(`${t.url}/docs/`, { method: 'HEAD' });
    assert.equal(head.headers.get('content-length'), String(Buffer.byteLength(page)));
    const missing = await fetch(`${t.url}/docs/static/no-such-file.js`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: string }).error, 'not_found');
    const moved = await fetch(`${t.url}/docs/static/index.html`, { redirect: 'manual' });
    assert.equal(moved.status, 302);
    assert.equal(moved.headers.get('location'), '/docs/');
    assert.equal(moved.headers.get('content-type'), null);
  });

  void it('serves the dashboard page, which reads the public API', async () => {
    const res = await fetch(`${t.url}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    const html = await res.text();
    for (const needle of [
      "api('stats')",
      "api('topics')",
      "api('events?'",
      "new EventSource('subscribe?'",
      'id="counters"',
      'id="topic-filter"',
    ]) {
      assert.ok(html.includes(needle), `dashboard has ${needle}`);
    }
  });

  void it('streams stored events of a topic by offset, then live ones, and resumes after Last-Event-ID', async () => {
    const stored = makeEvents(3, { topic: 'live' });
    assert.equal(
      (await postJson(`${t.url}/publish?wait=true`, [...stored, makeEvent({ topic: 'other' })]))
        .status,
      200,
    );
    const catchUp = subscribe(`${t.url}/subscribe?topic=live`, 4);
    const late = makeEvent({ topic: 'live' });
    setTimeout(() => void postJson(`${t.url}/publish`, late), 200);
    const seen = await catchUp;
    assert.deepEqual(
      seen.map((e) => e.data.event_id),
      [...stored, late].map((e) => e.event_id),
    );
    assert.ok(seen.every((e) => e.id === e.data.offset && e.data.topic === 'live'));
    assert.ok(seen.every((e, i) => i === 0 || e.id > (seen[i - 1] as SseEvent).id));

    const resumed = await subscribe(`${t.url}/subscribe?topic=live`, 2, {
      'last-event-id': String((seen[1] as SseEvent).id),
    });
    assert.deepEqual(
      resumed.map((e) => e.id),
      seen.slice(2).map((e) => e.id),
      'no gap and no repeat after a reconnect',
    );
  });

  void it('refuses bad subscription parameters with 400', async () => {
    const res = await fetch(`${t.url}/subscribe?after=-1`);
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_query');
  });
});

// Found by an outside probe: labels went to the first 1,000 topics this process saw, so a
// restart handed them to whichever topics published first (README: the first 1,000 by name).
void describe('metric topic labels', () => {
  void it('go to the store’s first 1,000 topics by name after a restart, later ones to _other', async () => {
    const names = Array.from({ length: 1_005 }, (_, i) => `t${String(i).padStart(4, '0')}`);
    const first = await startApp({});
    const dataDir = first.dataDir;
    try {
      const events = names.map((topic) => makeEvent({ topic }));
      assert.equal((await postJson(`${first.url}/publish?wait=true`, events)).status, 200);
      await first.close({ keepDir: true });
      const again = await startApp({}, { dataDir });
      try {
        // The last topic by name arrives first: it must not take a label.
        for (const topic of ['t1004', 't0000', 't0999']) {
          const res = await postJson(`${again.url}/publish?wait=true`, makeEvent({ topic }));
          assert.equal(res.status, 200);
        }
        const text = await (await fetch(`${again.url}/metrics`)).text();
        const received = (topic: string): RegExp =>
          new RegExp(`^logsieve_events_received_total\\{topic="${topic}"\\} 1$`, 'm');
        assert.match(text, received('t0000'));
        assert.match(text, received('t0999'));
        assert.match(text, received('_other'));
        assert.doesNotMatch(text, /topic="t1004"/);
      } finally {
        await again.close();
      }
    } catch (err) {
      await first.close().catch(() => undefined);
      throw err;
    }
  });
});
