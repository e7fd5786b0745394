/**
 * The OTLP mapping against session 2's (test/helpers/otlp-session2.ts: toObject, arrays for
 * JSON.stringify, then the /publish validator) on generated requests: every AnyValue kind
 * nested, repeated and array-index keys, 64-bit values at their edges, absent and empty
 * fields. The protobuf encoding, the OTLP JSON encoding and the oracle must give the same
 * events byte for byte (same content-hash ids, same payload text, same timestamp); the
 * mapping's own checks must refuse exactly what the validator refuses. Also: 64-bit values
 * as protobufjs Longs, as numbers and as text map alike.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type protobuf from 'protobufjs';
import { AppError } from '../../src/domain/errors.js';
import type { AcceptedEvent } from '../../src/domain/event.js';
import { normaliseTimestamp } from '../../src/domain/timestamp.js';
import { createEventValidator, type EventValidator } from '../../src/domain/validate.js';
import { mapLogsRequest } from '../../src/otlp/map.js';
import { loadOtlpLogsCodec } from '../../src/otlp/schema.js';
import type { OtlpExportRequest, OtlpInt64, OtlpLogRecord } from '../../src/otlp/types.js';
import { mapLogsProtobuf } from '../../src/otlp/wire.js';
import { prng } from '../helpers/events.js';
import { exportLogsRequestType } from '../helpers/otlp-proto.js';
import * as session2 from '../helpers/otlp-session2.js';

const Request = exportLogsRequestType();
const codec = loadOtlpLogsCodec();
const wireSchema = codec.wire ?? assert.fail('the wire reader has no schema');
const receivedAt = new Date('2025-10-24T12:00:00.000Z');

type Json = Record<string, unknown>;

class Gen {
  constructor(private readonly rand: () => number) {}
  int(n: number): number {
    return Math.floor(this.rand() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
  maybe(p = 0.5): boolean {
    return this.rand() < p;
  }
  text(): string {
    const parts = [
      'a',
      'Z',
      '9',
      ' ',
      '"',
      '\\',
      '\n',
      '\u0000',
      '\u007f',
      'é',
      '€',
      '😀',
      '\u2028',
      '/',
    ];
    let s = '';
    for (let i = this.int(6); i > 0; i--) s += this.pick(parts);
    return s;
  }
  u64(): string {
    const special = ['0', '1', '999999', '1000000', '1544712660300000001', '18446744073709551615'];
    if (this.maybe(0.4)) return this.pick(special);
    const hi = BigInt(this.int(2 ** 32));
    const lo = BigInt(this.int(2 ** 32));
    return ((hi << 32n) | lo).toString();
  }
  i64(): string | number {
    const special = [
      '0',
      '-1',
      '2147483648',
      '9007199254740991',
      '9007199254740992',
      '9007199254740993',
      '-9007199254740993',
      '9223372036854775807',
      '-9223372036854775808',
    ];
    const text = this.maybe(0.5)
      ? this.pick(special)
      : BigInt.asIntN(
          64,
          (BigInt(this.int(2 ** 32)) << 32n) | BigInt(this.int(2 ** 32)),
        ).toString();
    // OTLP JSON allows a number too; only exact ones are sent that way.
    const n = Number(text);
    return Number.isSafeInteger(n) && this.maybe(0.3) ? n : text;
  }
  double(): number | string {
    const special = [0, -0, 1.5, -2.25e-300, 1e21, 637.704, 10, 'NaN', 'Infinity', '-Infinity'];
    return this.maybe(0.6) ? this.pick(special) : (this.rand() - 0.5) * 10 ** this.int(30);
  }
  hex(bytes: number): string {
    let s = '';
    for (let i = 0; i < bytes; i++) s += this.int(256).toString(16).padStart(2, '0');
    return s;
  }
  value(depth: number): Json {
    const kinds = depth > 2 ? 6 : 8;
    switch (this.int(kinds)) {
      case 0:
        return { stringValue: this.text() };
      case 1:
        return { boolValue: this.maybe() };
      case 2:
        return { intValue: this.i64() };
      case 3:
        return { doubleValue: this.double() };
      case 4:
        return { bytesValue: Buffer.from(this.hex(this.int(4)), 'hex').toString('base64') };
      case 5:
        return {}; // no value
      case 6:
        return {
          arrayValue: { values: Array.from({ length: this.int(4) }, () => this.value(depth + 1)) },
        };
      default:
        return { kvlistValue: { values: this.attrs(depth + 1) } };
    }
  }
  attrs(depth = 0): Json[] {
    const keys = ['a', 'b', 'B', 'é', '', '0', '10', '2', '01', 'x.y', 'a'];
    return Array.from({ length: this.int(5) }, () =>
      this.maybe(0.9)
        ? { key: this.pick(keys), value: this.value(depth) }
        : { key: this.pick(keys) },
    );
  }
  record(): Json {
    const r: Json = {};
    if (this.maybe(0.8)) r.timeUnixNano = this.u64();
    if (this.maybe(0.5)) r.observedTimeUnixNano = this.u64();
    if (this.maybe(0.7)) r.severityNumber = this.int(25);
    if (this.maybe(0.6)) r.severityText = this.pick(['INFO', 'WARN', '', this.text()]);
    if (this.maybe(0.8)) r.body = this.value(0);
    if (this.maybe(0.8)) r.attributes = this.attrs();
    if (this.maybe(0.2)) {
      const list = (r.attributes as Json[] | undefined) ?? [];
      r.attributes = [...list, { key: 'log.record.uid', value: this.value(2) }];
    }
    if (this.maybe(0.3)) r.droppedAttributesCount = this.int(5);
    if (this.maybe(0.3)) r.flags = this.pick([0, 1, 257, 4294967295]);
    if (this.maybe(0.5)) r.traceId = this.maybe(0.9) ? this.hex(16) : '';
    if (this.maybe(0.5)) r.spanId = this.hex(8);
    if (this.maybe(0.3)) r.eventName = this.pick(['', 'order.placed', this.text()]);
    return r;
  }
  request(): Json {
    const resourceAttrs = (): Json[] => {
      const out = this.attrs();
      if (this.maybe(0.7)) out.push({ key: 'service.name', value: this.value(2) });
      if (this.maybe(0.3))
        out.push({ key: 'service.instance.id', value: { stringValue: this.text() } });
      if (this.maybe(0.3))
        out.push({ key: 'host.name', value: { stringValue: `h\u0007${this.text()}` } });
      return out;
    };
    return {
      resourceLogs: Array.from({ length: 1 + this.int(3) }, () => ({
        ...(this.maybe(0.9)
          ? { resource: { attributes: resourceAttrs(), droppedAttributesCount: this.int(2) } }
          : {}),
        scopeLogs: Array.from({ length: this.int(3) }, () => ({
          ...(this.maybe(0.8)
            ? {
                scope: {
                  ...(this.maybe(0.8) ? { name: this.pick(['lib', '', this.text()]) } : {}),
                  ...(this.maybe(0.5) ? { version: '1.0' } : {}),
                  ...(this.maybe(0.5) ? { attributes: this.attrs() } : {}),
                  ...(this.maybe(0.2) ? { droppedAttributesCount: 1 } : {}),
                },
              }
            : {}),
          logRecords: Array.from({ length: this.int(4) }, () => this.record()),
        })),
      })),
    };
  }
}

function protobufOf(req: Json): Uint8Array {
  const ids = withBytesKeepingNumbers(req);
  return Request.encode(Request.fromObject(ids)).finish();
}

function withBytesKeepingNumbers(value: unknown): Json {
  const walk = (v: unknown, key: string): unknown => {
    if ((key === 'traceId' || key === 'spanId') && typeof v === 'string') {
      return Buffer.from(v, 'hex');
    }
    if (Array.isArray(v)) return v.map((x) => walk(x, ''));
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    }
    return v;
  };
  return walk(value, '') as Json;
}

const TO_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  enums: Number,
  defaults: false,
  arrays: false,
  objects: false,
};

/** Session 2's pipeline: toObject, its mapping, then the /publish validator. */
function oracle(wire: Uint8Array, validate: EventValidator): AcceptedEvent[] | string[] {
  const plain = Request.toObject(Request.decode(wire), TO_OBJECT) as session2.OtlpExportRequest;
  const { events, problems } = session2.mapLogsRequest(plain, {
    topicAttribute: 'service.name',
    receivedAt,
  });
  if (problems.length > 0) return problems.map((p) => `${p.index}:${p.field}`);
  if (events.length === 0) return [];
  try {
    return validate(events);
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return err.details.map((d) => `${d.index}:${d.field}:${d.message}`);
  }
}

function mapped(request: OtlpExportRequest, validate: EventValidator): AcceptedEvent[] | string[] {
  const { events, problems } = mapLogsRequest(request, {
    topicAttribute: 'service.name',
    receivedAt,
    rules: validate.rules,
  });
  if (problems.length === 0) return events;
  return problems.map((p) =>
    p.field === 'attributes' ? `${p.index}:${p.field}` : `${p.index}:${p.field}:${p.message}`,
  );
}

/** The wire reader's result in the same terms as `mapped`, or null when it does not take it. */
function fromWire(wire: Uint8Array, validate: EventValidator): AcceptedEvent[] | string[] | null {
  const out = mapLogsProtobuf(
    wire,
    { topicAttribute: 'service.name', receivedAt, rules: validate.rules },
    wireSchema,
  );
  if (out === null) return null;
  if (out.problems.length === 0) return out.events;
  return out.problems.map((p) =>
    p.field === 'attributes' ? `${p.index}:${p.field}` : `${p.index}:${p.field}:${p.message}`,
  );
}

void describe('OTLP mapping against session 2 (generated requests)', () => {
  void it('protobuf (both readers), OTLP JSON and the oracle give the same events byte for byte', () => {
    const gen = new Gen(prng(11));
    const validate = createEventValidator({ maxEvents: 100_000, maxPayloadBytes: 1_000_000 });
    let records = 0;
    let taken = 0;
    for (let i = 0; i < 400; i++) {
      const req = gen.request();
      const wire = protobufOf(req);
      const expected = oracle(wire, validate);
      const fromProtobuf = mapped(codec.decodeProtobuf(wire), validate);
      const fromJson = mapped(codec.decodeJson(req), validate);
      const fast = fromWire(wire, validate);
      assert.deepEqual(fromProtobuf, expected, `request ${i} (protobuf): ${JSON.stringify(req)}`);
      assert.deepEqual(fromJson, expected, `request ${i} (JSON): ${JSON.stringify(req)}`);
      if (fast !== null) {
        taken++;
        assert.deepEqual(fast, expected, `request ${i} (wire reader): ${JSON.stringify(req)}`);
      }
      for (const e of fromProtobuf) {
        if (typeof e === 'string') continue;
        records++;
        assert.equal(normaliseTimestamp(e.timestamp), e.timestamp, 'already normalised');
        assert.doesNotThrow(() => JSON.parse(e.payload), 'payload is JSON');
      }
    }
    assert.ok(records > 500, `enough records generated (${records})`);
    // It gives up only on U+FFFD (the generator's texts have none) or nothing: all taken.
    assert.equal(taken, 400, 'the wire reader takes what protobufjs encodes');
  });

  void it('refuses exactly what the /publish validator refuses, with its messages', () => {
    const gen = new Gen(prng(12));
    for (let i = 0; i < 300; i++) {
      const validate = createEventValidator({
        maxEvents: 100_000,
        maxPayloadBytes: gen.pick([200, 400, 800, 1600]),
      });
      const req = gen.request();
      // Ids near the limits (length, control characters) and long multi-byte bodies.
      for (const rl of req.resourceLogs as Json[]) {
        for (const sl of rl.scopeLogs as Json[]) {
          for (const r of sl.logRecords as Json[]) {
            if (gen.maybe(0.3)) {
              const id = gen.pick([
                'ok',
                '',
                'x'.repeat(200),
                'x'.repeat(201),
                'a\u0001b',
                '😀'.repeat(150),
              ]);
              r.attributes = [{ key: 'log.record.uid', value: { stringValue: id } }];
            }
            if (gen.maybe(0.3)) {
              r.body = { stringValue: gen.pick(['€', 'a', '😀', '"']).repeat(gen.int(600)) };
            }
          }
        }
      }
      const wire = protobufOf(req);
      const expected = oracle(wire, validate);
      assert.deepEqual(
        mapped(codec.decodeProtobuf(wire), validate),
        expected,
        `request ${i}: ${JSON.stringify(req)}`,
      );
      assert.deepEqual(fromWire(wire, validate), expected, `request ${i} (wire reader)`);
    }
  });

  void it('refuses a source that is not well-formed Unicode, as /publish would', () => {
    const validate = createEventValidator({ maxEvents: 10, maxPayloadBytes: 10_000 });
    const req: OtlpExportRequest = {
      resourceLogs: [
        {
          resource: { attributes: [{ key: 'host.name', value: { stringValue: 'h\ud800' } }] },
          scopeLogs: [{ logRecords: [{}, {}] }],
        },
      ],
    };
    assert.deepEqual(mapped(req, validate), [
      '0:source:must be well-formed Unicode (no lone surrogates)',
      '1:source:must be well-formed Unicode (no lone surrogates)',
    ]);
  });
});

void describe('OTLP 64-bit values', () => {
  const validate = createEventValidator({ maxEvents: 10, maxPayloadBytes: 100_000 });
  const one = (record: OtlpLogRecord): AcceptedEvent => {
    const out = mapped({ resourceLogs: [{ scopeLogs: [{ logRecords: [record] }] }] }, validate);
    assert.equal(out.length, 1);
    const e = out[0];
    assert.ok(e !== undefined && typeof e !== 'string', JSON.stringify(out));
    return e;
  };
  const long = (value: bigint, unsigned: boolean): OtlpInt64 => {
    const bits = BigInt.asUintN(64, value);
    return { low: Number(bits & 0xffffffffn) | 0, high: Number(bits >> 32n) | 0, unsigned };
  };

  void it('reads a time as Long, number or text alike, exactly past 2^53', () => {
    const gen = new Gen(prng(13));
    for (let i = 0; i < 300; i++) {
      const text = gen.u64();
      const big = BigInt(text);
      const forms: OtlpInt64[] = [text, long(big, true), long(big, false)];
      if (big <= BigInt(Number.MAX_SAFE_INTEGER)) forms.push(Number(big));
      const events = forms.map((t) => one({ timeUnixNano: t, body: { stringValue: 'x' } }));
      for (const e of events) assert.deepEqual(e, events[0], `time ${text}`);
      const payload = JSON.parse((events[0] as AcceptedEvent).payload) as Json;
      assert.equal(payload.time_unix_nano, big === 0n ? undefined : big.toString());
      if (big !== 0n) {
        const ms = Number(big / 1_000_000n);
        const sub = (big % 1_000_000n).toString().padStart(6, '0');
        const expected = normaliseTimestamp(`${new Date(ms).toISOString().slice(0, -1)}${sub}Z`);
        assert.equal((events[0] as AcceptedEvent).timestamp, expected, `time ${text}`);
      }
    }
  });

  void it('reads an int value as Long, number or text alike: a number when safe, else text', () => {
    const cases: [bigint, unknown][] = [
      [0n, 0],
      [-1n, -1],
      [2n ** 31n, 2 ** 31],
      [2n ** 53n - 1n, Number.MAX_SAFE_INTEGER],
      [2n ** 53n, '9007199254740992'],
      [-(2n ** 53n) - 1n, '-9007199254740993'],
      [2n ** 63n - 1n, '9223372036854775807'],
      [-(2n ** 63n), '-9223372036854775808'],
    ];
    for (const [value, json] of cases) {
      const forms: OtlpInt64[] = [value.toString(), long(value, false)];
      if (typeof json === 'number') forms.push(json);
      const events = forms.map((v) => one({ body: { intValue: v } }));
      for (const e of events) assert.deepEqual(e, events[0], `int ${value}`);
      assert.deepEqual((JSON.parse((events[0] as AcceptedEvent).payload) as Json).body, json);
    }
  });

  void it('treats absent, empty and default-valued fields alike', () => {
    const empty = one({});
    assert.deepEqual(one({ attributes: [], body: null, timeUnixNano: 0 }), empty);
    assert.deepEqual(
      one({ severityText: '', flags: 0, traceId: [], spanId: new Uint8Array() }),
      empty,
    );
    assert.deepEqual(one({ body: {} }), empty, 'an AnyValue with no value is no body');
    assert.equal(empty.timestamp, receivedAt.toISOString());
    assert.deepEqual(JSON.parse(empty.payload), {
      body: null,
      severity_number: 0,
      severity_text: '',
      attributes: {},
      resource: {},
      scope: { name: '', version: '', attributes: {} },
    });
  });
});
