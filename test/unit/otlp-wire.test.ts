/**
 * The protobuf wire reader (src/otlp/wire.ts) against protobufjs + the message mapping on
 * bodies it must not misread: every truncation and random byte damage of real requests,
 * fields out of number order, unknown fields, repeated singular fields, two AnyValue
 * members, more records than the limit. Whatever it takes must map exactly as the protobufjs
 * path does; whatever protobufjs refuses it must not take; it never throws.
 * (test/unit/otlp-oracle.test.ts checks it on generated well-formed requests.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { createEventValidator } from '../../src/domain/validate.js';
import { mapLogsRequest, type MapResult } from '../../src/otlp/map.js';
import { loadOtlpLogsCodec } from '../../src/otlp/schema.js';
import { compileWireSchema, mapLogsProtobuf } from '../../src/otlp/wire.js';
import { prng } from '../helpers/events.js';
import { loadLogsRoot } from '../helpers/otlp-proto.js';

const root = loadLogsRoot();
const Request = root.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest');
const codec = loadOtlpLogsCodec();
const wireSchema = codec.wire ?? assert.fail('the wire reader has no schema');
const validate = createEventValidator({ maxEvents: 50, maxPayloadBytes: 2_000 });
const opts = {
  topicAttribute: 'service.name',
  receivedAt: new Date('2025-10-24T12:00:00.000Z'),
  rules: validate.rules,
};

/** The protobufjs path's result, or 'refused' when protobufjs cannot decode the body. */
function reference(body: Uint8Array): MapResult | 'refused' {
  let decoded;
  try {
    decoded = codec.decodeProtobuf(body);
  } catch {
    return 'refused';
  }
  return mapLogsRequest(decoded, opts);
}

function checkAgainstReference(body: Uint8Array, label: string): 'taken' | 'left' {
  const fast = mapLogsProtobuf(body, opts, wireSchema);
  const ref = reference(body);
  if (fast === null) return 'left';
  assert.notEqual(ref, 'refused', `${label}: taken although protobufjs refuses it`);
  assert.deepEqual({ events: fast.events, problems: fast.problems }, ref, label);
  return 'taken';
}

const kv = (key: string, value: object): object => ({ key, value });

function request(extra: { body?: object; attributes?: object[] } = {}): Uint8Array {
  const record = (i: number): object => ({
    timeUnixNano: String(1761264001652000000n + BigInt(i)),
    observedTimeUnixNano: '1761264001653000000',
    severityNumber: 9,
    severityText: 'INFO',
    body: extra.body ?? { stringValue: `login é ${i}` },
    attributes: extra.attributes ?? [
      kv('user', { stringValue: `u${i}` }),
      kv('amount', { intValue: String(-i) }),
      kv('ok', { boolValue: true }),
      kv('ratio', { doubleValue: 0.5 }),
      kv('raw', { bytesValue: Buffer.from([1, 2, 3]) }),
      kv('list', { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '7' }] } }),
      kv('map', { kvlistValue: { values: [kv('k', { stringValue: 'v' })] } }),
    ],
    droppedAttributesCount: 1,
    flags: 1,
    traceId: Buffer.alloc(16, 0xab),
    spanId: Buffer.alloc(8, 0xcd),
    eventName: 'e',
  });
  return Request.encode(
    Request.fromObject({
      resourceLogs: [
        {
          resource: {
            attributes: [
              kv('service.name', { stringValue: 'checkout' }),
              kv('host.name', { stringValue: 'h1' }),
            ],
          },
          schemaUrl: 'https://opentelemetry.io/schemas/1.0.0',
          scopeLogs: [
            {
              scope: { name: 'lib', version: '1', attributes: [kv('a', { intValue: '1' })] },
              logRecords: [record(0), record(1), record(2)],
              schemaUrl: 'x',
            },
          ],
        },
      ],
    }),
  ).finish();
}

/** A length-delimited field (tag + length + bytes). */
function field(number: number, bytes: Uint8Array): Buffer {
  const w = protobuf.Writer.create();
  w.uint32((number << 3) | 2).bytes(bytes);
  return Buffer.from(w.finish());
}

void describe('protobuf wire reader', () => {
  void it('takes an ordinary export and maps it as the protobufjs path does', () => {
    assert.equal(checkAgainstReference(request(), 'ordinary'), 'taken');
    const nested = { kvlistValue: { values: [kv('__proto__', { stringValue: 'x' })] } };
    assert.equal(
      checkAgainstReference(request({ attributes: [kv('m', nested)] }), 'refused key'),
      'taken',
    );
    assert.equal(checkAgainstReference(request({ body: nested }), 'proto key in a body'), 'taken');
    const big = { stringValue: 'x'.repeat(3_000) };
    assert.equal(checkAgainstReference(request({ body: big }), 'payload too big'), 'taken');
    const uid = [kv('log.record.uid', { stringValue: 'a\u0001b' })];
    assert.equal(checkAgainstReference(request({ attributes: uid }), 'bad uid'), 'taken');
  });

  void it('never misreads a truncated or damaged body', () => {
    const body = request();
    let taken = 0;
    for (let end = 0; end < body.length; end++) {
      if (checkAgainstReference(body.subarray(0, end), `cut at ${end}`) === 'taken') taken++;
    }
    const rand = prng(21);
    for (let i = 0; i < 3_000; i++) {
      const damaged = Buffer.from(body);
      for (let k = 1 + Math.floor(rand() * 3); k > 0; k--) {
        damaged[Math.floor(rand() * damaged.length)] = Math.floor(rand() * 256);
      }
      if (checkAgainstReference(damaged, `damage ${i}`) === 'taken') taken++;
    }
    assert.ok(taken > 100, `some damaged bodies still decode and are taken (${taken})`);
  });

  void it('leaves to protobufjs what it does not read unambiguously', () => {
    const resourceLogs = (
      Request.decode(request()) as unknown as { resourceLogs: protobuf.Message[] }
    ).resourceLogs;
    const ResourceLogs = root.lookupType('opentelemetry.proto.logs.v1.ResourceLogs');
    const inner = ResourceLogs.encode(resourceLogs[0] as protobuf.Message).finish();
    // The resource (field 1) after the scope logs (field 2): valid protobuf, other order.
    const r = ResourceLogs.decode(inner) as unknown as { resource: protobuf.Message };
    const Resource = root.lookupType('opentelemetry.proto.resource.v1.Resource');
    const withoutResource = ResourceLogs.encode(
      ResourceLogs.fromObject({
        ...ResourceLogs.toObject(ResourceLogs.decode(inner)),
        resource: undefined,
      }),
    ).finish();
    const reordered = Buffer.concat([
      withoutResource,
      field(1, Resource.encode(r.resource).finish()),
    ]);
    const cases: [string, Uint8Array][] = [
      ['resource after scope logs', field(1, reordered)],
      [
        'resource given twice',
        field(1, Buffer.concat([inner, field(1, Resource.encode(r.resource).finish())])),
      ],
    ];
    // An AnyValue with two members: string then int.
    const AnyValue = root.lookupType('opentelemetry.proto.common.v1.AnyValue');
    const two = Buffer.concat([
      AnyValue.encode(AnyValue.fromObject({ stringValue: 's' })).finish(),
      AnyValue.encode(AnyValue.fromObject({ intValue: '3' })).finish(),
    ]);
    const LogRecord = root.lookupType('opentelemetry.proto.logs.v1.LogRecord');
    const recordWith = (bytes: Uint8Array): Uint8Array =>
      field(
        1,
        field(
          2,
          field(
            2,
            Buffer.concat([
              LogRecord.encode(LogRecord.fromObject({ severityNumber: 5 })).finish(),
              bytes,
            ]),
          ),
        ),
      );
    cases.push(['two AnyValue members', recordWith(field(5, two))]);
    cases.push([
      'body given twice',
      recordWith(Buffer.concat([field(5, two.subarray(0, 3)), field(5, two.subarray(0, 3))])),
    ]);
    // An unknown field 13 as an (empty) group: start-group and end-group tags.
    cases.push(['a group', recordWith(Buffer.from([(13 << 3) | 3, (13 << 3) | 4]))]);
    for (const [label, body] of cases) {
      assert.notEqual(reference(body), 'refused', `${label}: protobufjs decodes it`);
      assert.equal(mapLogsProtobuf(body, opts, wireSchema), null, label);
    }
    // Read with protobufjs's own Reader, a bool varint whose low 32 bits are 0 is true.
    const wideBool = Buffer.from([0x10, 0x80, 0x80, 0x80, 0x80, 0x10]);
    const key = Buffer.from([0x0a, 0x01, 0x62]);
    const wide = recordWith(field(6, Buffer.concat([key, field(2, wideBool)])));
    assert.equal(checkAgainstReference(wide, 'bool beyond 32 bits'), 'taken');
  });

  void it('skips fields the schema does not declare (or in another wire type), as protobufjs does', () => {
    const unknown = Buffer.concat([request(), field(9, Buffer.from('x'))]);
    assert.equal(checkAgainstReference(unknown, 'unknown request field'), 'taken');
    // LogRecord field 1 (time, fixed64) as a length-delimited field: protobufjs skips it.
    const wrongWire = field(1, field(2, field(2, field(1, Buffer.from('12345678')))));
    assert.equal(checkAgainstReference(wrongWire, 'time in another wire type'), 'taken');
  });

  void it('takes its field numbers from the compiled schema, and has no fast path without it', () => {
    const other = loadLogsRoot();
    const parts = { resource: () => ({}), scope: () => ({}) };
    const schema = compileWireSchema(other, parts);
    const LogRecord = other.lookupType('opentelemetry.proto.logs.v1.LogRecord');
    assert.equal(schema?.logRecord.body, ((LogRecord.fields.body?.id ?? 0) << 3) | 2);
    // A schema where a field the reader reads has another type.
    const flags = LogRecord.fields.flags;
    assert.ok(flags !== undefined);
    flags.type = 'uint64';
    assert.equal(compileWireSchema(other, parts), null);
  });

  void it('leaves a request of more records than the limit to the route (batch_too_large)', () => {
    const many = Request.encode(
      Request.fromObject({
        resourceLogs: [{ scopeLogs: [{ logRecords: Array.from({ length: 51 }, () => ({})) }] }],
      }),
    ).finish();
    assert.equal(mapLogsProtobuf(many, opts, wireSchema), null);
    const fifty = Request.encode(
      Request.fromObject({
        resourceLogs: [{ scopeLogs: [{ logRecords: Array.from({ length: 50 }, () => ({})) }] }],
      }),
    ).finish();
    assert.equal(mapLogsProtobuf(fifty, opts, wireSchema)?.records, 50);
  });
});
