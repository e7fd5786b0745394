/**
 * POST /v1/logs at the HTTP level with hand-written OTLP JSON (the upstream example of
 * opentelemetry-proto) and broken bodies: the exact mapping of a known request, 400 for an
 * undecodable or invalid body, 415 for other media types, all-or-nothing, 503 + Retry-After
 * on backpressure; bad requests change only `rejected`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { startApp, type TestApp } from '../helpers/app.js';
import { allEvents, postJson, stats, waitIdle, type ErrorBody } from '../helpers/http.js';

const JSON_CT = { 'content-type': 'application/json' };
const PROTO_CT = { 'content-type': 'application/x-protobuf' };

/** opentelemetry-proto examples/logs.json (v1.11.0), trimmed to the fields it exercises. */
const UPSTREAM_EXAMPLE = {
  resourceLogs: [
    {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'my.service' } }] },
      scopeLogs: [
        {
          scope: {
            name: 'my.library',
            version: '1.0.0',
            attributes: [
              { key: 'my.scope.attribute', value: { stringValue: 'some scope attribute' } },
            ],
          },
          logRecords: [
            {
              timeUnixNano: '1544712660300000000',
              observedTimeUnixNano: '1544712660300000000',
              severityNumber: 10,
              severityText: 'Information',
              traceId: '5B8EFFF798038103D269B633813FC60C',
              spanId: 'EEE19B7EC3C1B174',
              body: { stringValue: 'Example log record' },
              attributes: [
                { key: 'string.attribute', value: { stringValue: 'some string' } },
                { key: 'boolean.attribute', value: { boolValue: true } },
                { key: 'int.attribute', value: { intValue: '10' } },
                { key: 'double.attribute', value: { doubleValue: 637.704 } },
                {
                  key: 'array.attribute',
                  value: {
                    arrayValue: { values: [{ stringValue: 'many' }, { stringValue: 'values' }] },
                  },
                },
                {
                  key: 'map.attribute',
                  value: {
                    kvlistValue: {
                      values: [{ key: 'some.map.key', value: { stringValue: 'some value' } }],
                    },
                  },
                },
              ],
            },
          ],
        },
      ],
    },
  ],
};

/** An OTLP JSON request of `n` records for service `service`. */
function otlpJson(service: string, n: number, extra: Record<string, unknown>[] = []): object {
  const records = Array.from({ length: n }, (_, i) => ({
    timeUnixNano: String(1_700_000_000_000_000_000n + BigInt(i)),
    body: { stringValue: `line ${i}` },
    ...(extra[i] ?? {}),
  }));
  return {
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeLogs: [{ logRecords: records }],
      },
    ],
  };
}

void describe('POST /v1/logs (HTTP level)', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ MAX_PAYLOAD_BYTES: '4096' });
  });
  after(() => t.close());

  async function rejected(
    body: string | Uint8Array | object,
    headers: Record<string, string>,
    status: number,
    error: string,
  ): Promise<ErrorBody> {
    const s0 = await stats(t.url);
    const raw = typeof body === 'string' || body instanceof Uint8Array;
    const res = await postJson<ErrorBody>(
      `${t.url}/v1/logs`,
      raw ? body : JSON.stringify(body),
      headers,
    );
    assert.equal(res.status, status, JSON.stringify(res.body));
    assert.equal(res.body.error, error, res.body.message);
    const s1 = await stats(t.url);
    assert.equal(s1.received, s0.received, 'nothing was enqueued');
    assert.equal(s1.rejected, s0.rejected + 1, 'counted as rejected');
    return res.body;
  }

  void it('maps the upstream OTLP JSON example exactly', async () => {
    const res = await postJson(`${t.url}/v1/logs`, UPSTREAM_EXAMPLE);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body, {});
    await waitIdle(t.url);
    const [row, ...rest] = await allEvents(t.url, { topic: 'my.service' });
    assert.equal(rest.length, 0);
    assert.ok(row !== undefined);
    assert.match(row.event_id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(row.timestamp, '2018-12-13T14:51:00.300Z');
    assert.equal(row.source, 'my.service');
    assert.deepEqual(row.payload, {
      body: 'Example log record',
      severity_number: 10,
      severity_text: 'Information',
      attributes: {
        'string.attribute': 'some string',
        'boolean.attribute': true,
        'int.attribute': 10,
        'double.attribute': 637.704,
        'array.attribute': ['many', 'values'],
        'map.attribute': { 'some.map.key': 'some value' },
      },
      resource: { 'service.name': 'my.service' },
      scope: {
        name: 'my.library',
        version: '1.0.0',
        attributes: { 'my.scope.attribute': 'some scope attribute' },
      },
      trace_id: '5b8efff798038103d269b633813fc60c',
      span_id: 'eee19b7ec3c1b174',
      time_unix_nano: '1544712660300000000',
      observed_time_unix_nano: '1544712660300000000',
    });
  });

  void it('answers 400 to an undecodable protobuf body', async () => {
    const garbage = Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
    await rejected(garbage, PROTO_CT, 400, 'invalid_otlp');
  });

  void it('answers 400 to OTLP JSON that does not fit the schema', async () => {
    await rejected({ resourceLogs: 'nope' }, JSON_CT, 400, 'invalid_otlp');
    await rejected('[1, 2]', JSON_CT, 400, 'invalid_otlp');
    await rejected(otlpJson('svc', 1, [{ traceId: 'not-hex' }]), JSON_CT, 400, 'invalid_otlp');
    await rejected('{"resourceLogs": [', JSON_CT, 400, 'invalid_json');
  });

  // Found by an outside probe: protobufjs's fromObject coerces instead of refusing, so a
  // negative fixed64 time wrapped to the year 2554, "1.5e18" became 1 ns, "abc" became 0 and
  // "yes" became true, each answered 200.
  void it('answers 400 to values the protobuf JSON mapping does not allow, naming the field', async () => {
    const at = 'resourceLogs[0].scopeLogs[0].logRecords[0]';
    const bad: [Record<string, unknown>, string][] = [
      [{ timeUnixNano: '-5' }, `${at}.timeUnixNano`],
      [{ timeUnixNano: '18446744073709551616' }, `${at}.timeUnixNano`],
      [{ timeUnixNano: 'abc' }, `${at}.timeUnixNano`],
      [{ timeUnixNano: '' }, `${at}.timeUnixNano`],
      [{ timeUnixNano: '1.5' }, `${at}.timeUnixNano`],
      [{ observedTimeUnixNano: true }, `${at}.observedTimeUnixNano`],
      [{ severityNumber: 2.5 }, `${at}.severityNumber`],
      [{ severityNumber: 'LOUD' }, `${at}.severityNumber`],
      [{ droppedAttributesCount: -1 }, `${at}.droppedAttributesCount`],
      [{ flags: 4294967296 }, `${at}.flags`],
      [{ severityText: 5 }, `${at}.severityText`],
      [{ body: { intValue: 'abc' } }, `${at}.body.intValue`],
      [{ body: { intValue: 4.5 } }, `${at}.body.intValue`],
      [{ body: { intValue: '9223372036854775808' } }, `${at}.body.intValue`],
      [{ body: { boolValue: 'yes' } }, `${at}.body.boolValue`],
      [{ body: { doubleValue: 'lots' } }, `${at}.body.doubleValue`],
      [{ body: { bytesValue: 'not base64!' } }, `${at}.body.bytesValue`],
      [{ body: { stringValue: 'a', boolValue: true } }, `${at}.body`],
      [{ body: 'text' }, `${at}.body`],
      [{ attributes: { key: 'k' } }, `${at}.attributes`],
      [{ attributes: [null] }, `${at}.attributes[0]`],
    ];
    for (const [record, field] of bad) {
      const e = await rejected(otlpJson('strict', 1, [record]), JSON_CT, 400, 'invalid_otlp');
      assert.ok(e.message.includes(field), `${JSON.stringify(record)}: ${e.message}`);
    }
  });

  void it('reads every form the protobuf JSON mapping allows, exactly', async () => {
    const forms: Record<string, unknown>[] = [
      // A 64-bit integer as a string, in exponent notation, or as a number; null is unset.
      { timeUnixNano: '1.5e18', body: { intValue: '-9223372036854775808' } },
      { timeUnixNano: 1.5e18, body: { intValue: 12e3 } },
      { timeUnixNano: '18446744073709551615', body: { doubleValue: 'Infinity' } },
      {
        timeUnixNano: null,
        observedTimeUnixNano: '1500000000000000000',
        severityNumber: 'SEVERITY_NUMBER_WARN',
      },
      {
        timeUnixNano: '1500000000000000000',
        body: { bytesValue: 'aGk=' },
        flags: '1',
        droppedAttributesCount: 2,
      },
    ];
    const res = await postJson(`${t.url}/v1/logs`, otlpJson('forms', forms.length, forms));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await waitIdle(t.url);
    const rows = await allEvents(t.url, { topic: 'forms' });
    assert.deepEqual(
      rows.map((r) => [r.timestamp, r.payload.body]),
      [
        ['2017-07-14T02:40:00.000Z', '-9223372036854775808'],
        ['2017-07-14T02:40:00.000Z', 12000],
        ['2554-07-21T23:34:33.709551615Z', 'Infinity'],
        ['2017-07-14T02:40:00.000Z', 'line 3'],
        ['2017-07-14T02:40:00.000Z', 'aGk='],
      ],
    );
    const [, , , warn, last] = rows.map((r) => r.payload);
    assert.equal(warn?.severity_number, 13);
    assert.equal(last?.flags, 1);
    assert.equal(last?.dropped_attributes_count, 2);
  });

  void it('answers 400 to values nested past the protobuf recursion limit', async () => {
    let value: object = { stringValue: 'x' };
    for (let i = 0; i < 60; i++) value = { arrayValue: { values: [value] } };
    await rejected(otlpJson('deep', 1, [{ body: value }]), JSON_CT, 400, 'invalid_otlp');
  });

  void it('answers 400 to a truncated gzip body', async () => {
    const gz = gzipSync(Buffer.from(JSON.stringify(otlpJson('svc', 10))));
    await rejected(
      gz.subarray(0, gz.length - 10),
      { ...JSON_CT, 'content-encoding': 'gzip' },
      400,
      'invalid_encoding',
    );
  });

  void it('answers 415 to other media types and encodings', async () => {
    await rejected('hello', { 'content-type': 'text/plain' }, 415, 'unsupported_media_type');
    await rejected('{}', { 'content-type': 'application/x-ndjson' }, 415, 'unsupported_media_type');
    // Whatever the lines hold: not JSON lines are not a 400 here (found by an outside probe).
    await rejected(
      'not json\n{"x":',
      { 'content-type': 'application/x-ndjson' },
      415,
      'unsupported_media_type',
    );
    await rejected(
      JSON.stringify(otlpJson('svc', 1)),
      { ...JSON_CT, 'content-encoding': 'zstd' },
      415,
      'unsupported_encoding',
    );
  });

  void it('validates every record by the /publish rules and accepts none when one fails', async () => {
    const uid = (id: string): Record<string, unknown> => ({
      attributes: [{ key: 'log.record.uid', value: { stringValue: id } }],
    });
    const e = await rejected(
      otlpJson('svc', 3, [
        uid('ok-1'),
        uid('x'.repeat(201)),
        { body: { stringValue: 'y'.repeat(5000) } },
      ]),
      JSON_CT,
      400,
      'validation_failed',
    );
    assert.deepEqual(
      e.details.map((d) => `${d.index}:${d.field}`),
      ['1:event_id', '2:payload'],
    );
  });

  void it('answers 503 with Retry-After when the queue is full', async () => {
    const small = await startApp({ QUEUE_MAX: '100', WORKERS: '1' });
    try {
      let refused: { status: number; retryAfter: string | null; error: string } | null = null;
      for (let attempt = 0; attempt < 20 && refused === null; attempt++) {
        const s0 = await waitIdle(small.url);
        const results = await Promise.all(
          [0, 1].map((k) =>
            postJson<ErrorBody>(`${small.url}/v1/logs`, otlpJson(`bp-${attempt}-${k}`, 60)),
          ),
        );
        const s1 = await waitIdle(small.url);
        const res = results.find((r) => r.status === 503);
        if (res !== undefined) {
          assert.equal(s1.received - s0.received, 60, 'only the request that fitted');
          refused = {
            status: res.status,
            retryAfter: res.headers.get('retry-after'),
            error: res.body.error,
          };
        }
      }
      assert.ok(refused !== null, 'a full queue answered 503 at least once in 20 tries');
      assert.equal(refused.error, 'queue_full');
      assert.ok(Number(refused.retryAfter) >= 1, 'Retry-After in seconds');
    } finally {
      await small.close();
    }
  });
});

void describe('OTLP_TOPIC_ATTRIBUTE', () => {
  void it('names the resource attribute that becomes the topic', async () => {
    const t = await startApp({ OTLP_TOPIC_ATTRIBUTE: 'deployment.environment' });
    try {
      const body = otlpJson('svc', 1) as {
        resourceLogs: { resource: { attributes: unknown[] } }[];
      };
      body.resourceLogs[0]?.resource.attributes.push({
        key: 'deployment.environment',
        value: { stringValue: 'prod eu' },
      });
      assert.equal((await postJson(`${t.url}/v1/logs`, body)).status, 200);
      await waitIdle(t.url);
      assert.equal((await allEvents(t.url, { topic: 'prod_eu' })).length, 1);
    } finally {
      await t.close();
    }
  });
});
