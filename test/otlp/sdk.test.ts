/**
 * POST /v1/logs with the real OpenTelemetry JS SDK and its OTLP/HTTP exporters (JSON and
 * protobuf, gzip on and off): records of several services land in their topics exactly once
 * with their bodies, severities, attributes and trace ids; an export sent twice is dropped
 * as duplicates; records without log.record.uid dedup by content, across encodings too.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { startApp, type TestApp } from '../helpers/app.js';
import { allEvents, stats, waitIdle, type StoredEventBody } from '../helpers/http.js';
import { exportBatch, otlpExporter, OtelService, type Encoding } from '../helpers/otel.js';

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

interface Emitted {
  readonly traceId: string;
  readonly spanId: string;
  readonly body: string;
}

void describe('POST /v1/logs with the OpenTelemetry SDK exporters', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp();
  });
  after(() => t.close());

  const combos: [Encoding, boolean][] = [
    ['protobuf', false],
    ['protobuf', true],
    ['json', false],
    ['json', true],
  ];
  for (const [encoding, gzip] of combos) {
    void it(`stores records of several services once each (${encoding}, gzip ${gzip ? 'on' : 'off'})`, async () => {
      const tag = `${encoding}-${gzip ? 'gz' : 'plain'}-${hex(3)}`;
      const checkout = new OtelService({
        'service.name': `checkout-${tag}`,
        'service.instance.id': `checkout-1-${tag}`,
      });
      const billing = new OtelService({ 'service.name': `billing svc ${tag}`, 'host.name': 'h1' });
      const emitted: Emitted[] = [];
      for (let i = 0; i < 3; i++) {
        const e = { traceId: hex(16), spanId: hex(8), body: `order ${i} placed` };
        emitted.push(e);
        checkout.emit({
          ...e,
          severityNumber: SeverityNumber.WARN,
          severityText: 'WARN',
          attributes: { 'order.id': i, 'http.route': '/orders', ok: true, ratio: 0.5 },
          timestamp: Date.UTC(2025, 9, 24, 0, 0, i),
        });
      }
      const uid = randomUUID();
      billing.emit({
        body: { invoice: 'INV-1', lines: [1, 2] },
        severityNumber: SeverityNumber.ERROR,
        severityText: 'ERROR',
        attributes: { 'log.record.uid': uid },
      });
      billing.emit({
        body: 'no uid here',
        severityNumber: SeverityNumber.INFO,
        severityText: 'INFO',
      });
      const records = [...checkout.take(), ...billing.take()];
      const exporter = otlpExporter(t.url, { encoding, gzip });
      try {
        const before = await waitIdle(t.url);
        assert.ok(await exportBatch(exporter, records), 'the exporter saw success');
        const mid = await waitIdle(t.url);
        assert.equal(mid.unique_processed, before.unique_processed + 5);

        const orders = await allEvents(t.url, { topic: `checkout-${tag}` });
        assert.equal(orders.length, 3);
        orders.forEach((row, i) => {
          const sent = emitted[i] as Emitted;
          assert.match(row.event_id, /^sha256:[0-9a-f]{64}$/);
          assert.equal(row.source, `checkout-1-${tag}`, 'source = service.instance.id');
          assert.equal(row.timestamp, `2025-10-24T00:00:0${i}.000Z`);
          const p = row.payload;
          assert.equal(p.body, sent.body);
          assert.equal(p.severity_text, 'WARN');
          assert.equal(p.severity_number, SeverityNumber.WARN);
          assert.deepEqual(p.attributes, {
            'order.id': i,
            'http.route': '/orders',
            ok: true,
            ratio: 0.5,
          });
          assert.equal(p.trace_id, sent.traceId);
          assert.equal(p.span_id, sent.spanId);
          assert.equal(p.flags, 1, 'sampled');
          assert.deepEqual(
            (p.scope as Record<string, unknown>).name,
            'logsieve-test',
            'instrumentation scope kept',
          );
          assert.equal((p.resource as Record<string, unknown>)['service.name'], `checkout-${tag}`);
        });

        const bills = await allEvents(t.url, { topic: `billing_svc_${tag}` });
        assert.equal(bills.length, 2, 'topic sanitised: spaces become _');
        const withUid = bills.find((r) => r.event_id === uid) as StoredEventBody;
        assert.ok(withUid !== undefined, 'event_id = log.record.uid');
        assert.deepEqual(withUid.payload.body, { invoice: 'INV-1', lines: [1, 2] });
        assert.equal(withUid.payload.severity_text, 'ERROR');
        assert.equal(withUid.source, 'h1', 'source = host.name without an instance id');
        assert.ok(
          bills.some((r) => r.payload.body === 'no uid here' && r.event_id.startsWith('sha256:')),
        );

        // The exporter retries (or a pipeline re-sends) the same export: all duplicates.
        assert.ok(await exportBatch(exporter, records));
        const end = await waitIdle(t.url);
        assert.equal(end.unique_processed, mid.unique_processed, 'nothing stored twice');
        assert.equal(end.duplicate_dropped, mid.duplicate_dropped + 5);
        assert.equal((await allEvents(t.url, { topic: `checkout-${tag}` })).length, 3);
      } finally {
        await exporter.shutdown();
      }
    });
  }

  void it('dedups records without log.record.uid by content, across encodings', async () => {
    const name = `content-${hex(3)}`;
    const svc = new OtelService({ 'service.name': name });
    const at = Date.UTC(2025, 0, 1);
    svc.emit({
      body: 'same',
      severityNumber: SeverityNumber.INFO,
      severityText: 'INFO',
      timestamp: at,
    });
    svc.emit({
      body: 'same',
      severityNumber: SeverityNumber.INFO,
      severityText: 'INFO',
      timestamp: at,
      attributes: { differs: 1 },
    });
    const records = svc.take();
    const json = otlpExporter(t.url, { encoding: 'json', gzip: false });
    const proto = otlpExporter(t.url, { encoding: 'protobuf', gzip: true });
    try {
      assert.ok(await exportBatch(json, records));
      const mid = await waitIdle(t.url);
      const rows = await allEvents(t.url, { topic: name });
      assert.equal(rows.length, 2, 'two different records are two events');
      assert.notEqual(rows[0]?.event_id, rows[1]?.event_id);
      assert.ok(await exportBatch(proto, records));
      const end = await waitIdle(t.url);
      assert.equal(end.unique_processed, mid.unique_processed, 'protobuf copy = JSON copy');
      assert.equal(end.duplicate_dropped, mid.duplicate_dropped + 2);
    } finally {
      await json.shutdown();
      await proto.shutdown();
    }
  });

  void it('answers an exporter with the ExportLogsServiceResponse in its encoding', async () => {
    const body = JSON.stringify({ resourceLogs: [] });
    const res = await fetch(`${t.url}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await res.json(), {});
    const empty = await fetch(`${t.url}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: new Uint8Array(0),
    });
    assert.equal(empty.status, 200);
    assert.equal(empty.headers.get('content-type'), 'application/x-protobuf');
    assert.equal((await empty.arrayBuffer()).byteLength, 0);
  });
});

void describe('POST /v1/logs with API keys', () => {
  let t: TestApp;
  const key = 'otlp-test-key-0123456789';
  before(async () => {
    // Reads stay open so the test can watch /stats; the write key is what is under test.
    t = await startApp({ API_KEYS: key, PUBLIC_READS: 'true' });
  });
  after(() => t.close());

  void it('needs the same key as /publish', async () => {
    const svc = new OtelService({ 'service.name': `keyed-${hex(3)}` });
    svc.emit({ body: 'x', severityNumber: SeverityNumber.INFO, severityText: 'INFO' });
    const records = svc.take();
    const anonymous = otlpExporter(t.url, { encoding: 'protobuf', gzip: true });
    const keyed = otlpExporter(t.url, {
      encoding: 'protobuf',
      gzip: true,
      headers: { authorization: `Bearer ${key}` },
    });
    try {
      const s0 = await stats(t.url);
      assert.equal(await exportBatch(anonymous, records), false, 'refused without a key');
      assert.equal((await stats(t.url)).received, s0.received);
      assert.ok(await exportBatch(keyed, records));
      assert.equal((await waitIdle(t.url)).received, s0.received + 1);
    } finally {
      await anonymous.shutdown();
      await keyed.shutdown();
    }
  });
});
