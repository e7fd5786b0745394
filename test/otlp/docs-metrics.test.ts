/**
 * The ingest routes in /metrics (per route, body format and encoding) and in the OpenAPI
 * document (/v1/logs with its media types; /publish with NDJSON).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { startApp, type TestApp } from '../helpers/app.js';
import { makeEvent } from '../helpers/events.js';
import { postJson, waitIdle } from '../helpers/http.js';

interface Operation {
  requestBody?: { content?: Record<string, unknown> };
  responses?: Record<string, unknown>;
}

void describe('ingest routes in /metrics and /openapi.json', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp();
  });
  after(() => t.close());

  void it('counts ingest requests and events by route, format and encoding', async () => {
    const ndjson = `${JSON.stringify(makeEvent())}\n${JSON.stringify(makeEvent())}`;
    assert.equal(
      (
        await postJson(`${t.url}/publish`, gzipSync(Buffer.from(ndjson)), {
          'content-type': 'application/x-ndjson',
          'content-encoding': 'gzip',
        })
      ).status,
      202,
    );
    const logs = {
      resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: 'm' } }] }] }],
    };
    assert.equal((await postJson(`${t.url}/v1/logs`, logs)).status, 200);
    assert.equal(
      (await postJson(`${t.url}/v1/logs`, 'x', { 'content-type': 'text/plain' })).status,
      415,
    );
    await waitIdle(t.url);
    const text = await (await fetch(`${t.url}/metrics`)).text();
    const line = (name: string, labels: string, value: number): RegExp =>
      new RegExp(`^${name}\\{${labels.replace(/\//g, '\\/')}\\} ${value}$`, 'm');
    assert.match(
      text,
      line(
        'logsieve_ingest_requests_total',
        'route="/publish",format="ndjson",encoding="gzip",status="202"',
        1,
      ),
    );
    assert.match(
      text,
      line(
        'logsieve_ingest_requests_total',
        'route="/v1/logs",format="json",encoding="identity",status="200"',
        1,
      ),
    );
    assert.match(
      text,
      line(
        'logsieve_ingest_requests_total',
        'route="/v1/logs",format="other",encoding="identity",status="415"',
        1,
      ),
    );
    assert.match(text, line('logsieve_ingest_events_total', 'route="/publish",format="ndjson"', 2));
    assert.match(text, line('logsieve_ingest_events_total', 'route="/v1/logs",format="json"', 1));
    assert.match(text, line('logsieve_events_received_total', 'topic="otlp"', 1));
  });

  void it('documents POST /v1/logs and the NDJSON body of /publish', async () => {
    const doc = (await (await fetch(`${t.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, Operation>>;
    };
    const logs = doc.paths['/v1/logs']?.post;
    assert.ok(logs !== undefined, '/v1/logs is documented');
    assert.deepEqual(Object.keys(logs.requestBody?.content ?? {}).sort(), [
      'application/json',
      'application/x-protobuf',
    ]);
    assert.ok(logs.responses?.['200'], 'its success response is documented');
    const publish = doc.paths['/publish']?.post;
    assert.ok(Object.keys(publish?.requestBody?.content ?? {}).includes('application/x-ndjson'));
  });
});
