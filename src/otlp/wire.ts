/**
 * POST /v1/logs' fast path for protobuf bodies: the log records are walked with protobufjs's
 * own Reader, driven by the protobufjs-compiled schema (field numbers and wire types looked up
 * at start-up from the upstream .proto files, never literals), straight into the canonical
 * text and the payload text; map.ts's `Mapping` then checks, hashes and builds the events, as
 * for every other request. What it saves is the protobufjs message per record, per attribute
 * and per value and the Long per time, and the second walk over them. Resource and scope
 * (once per resource / scope) are decoded by protobufjs's generated decoders (`parts`).
 *
 * States: none kept between calls; a call either maps the whole request (`WireResult`) or
 * answers null, and then the caller decodes the body with protobufjs's generated decoder and
 * maps the messages (map.ts `mapLogsRequest`), which stays the reference for every request
 * this reader does not take. Guarantees:
 * - What it takes, it maps exactly as the protobufjs path does: the same events byte for
 *   byte, the same problems (test/unit/otlp-oracle.test.ts on generated requests,
 *   test/unit/otlp-wire.test.ts on truncated, damaged and odd bodies). Each field is read
 *   with the Reader method the generated decoder uses for its type; a field the schema does
 *   not declare, or in another wire type than declared, is skipped as the generated decoder
 *   skips it.
 * - It leaves to protobufjs (null) what it does not read unambiguously: a declared field it
 *   does not read, a singular message field given twice (protobufjs merges), an AnyValue with
 *   two members, a resource after its scope logs or a scope after its records (exporters
 *   write fields in number order), a group, nesting beyond MAX_DEPTH, more records than
 *   `maxEvents`,
 *   and anything the Reader refuses (truncated, bad varint, text that is not strict UTF-8),
 *   so that protobufjs's own errors answer those.
 * - No fast path at all when the compiled schema is not the one it expects
 *   (compileWireSchema answers null).
 *
 * Cost, per record of bench/otlp.ts, same process, alternating (`node
 * dist/bench/otlp-micro.js`, BENCHMARKS.md "O1, session 4"): 0.72-0.79x of protobufjs's
 * decode + the message mapping; the server's main thread spends ~16 % less CPU per O1 record
 * and its GC helper threads about half.
 */
import protobuf from 'protobufjs';
import {
  int64SafeBits,
  int64TextBits,
  listTexts,
  Mapping,
  nanosOfBits,
  NULL_TEXTS,
  UID_ATTRIBUTE,
  type MapOptions,
  type MapResult,
  type ResourceContext,
  type ScopeContext,
  type Texts,
} from './map.js';
import type { OtlpAnyValue, OtlpKeyValue, OtlpResource, OtlpScope } from './types.js';

export interface WireResult extends MapResult {
  /** Log records in the request. */
  readonly records: number;
}

/** protobufjs decoders of the two messages read once per resource / scope. */
export interface WireParts {
  resource(bytes: Uint8Array): OtlpResource;
  scope(bytes: Uint8Array): OtlpScope;
}

/** Deeper AnyValue nesting goes to protobufjs (which refuses beyond 100 levels). */
const MAX_DEPTH = 32;

/** Thrown inside the reader for "not taken"; allocated once, so a bail costs no stack trace. */
const BAIL = new Error('not on the protobuf fast path');

/** The tags (field number << 3 | wire type) of one message's fields, and all its fields'. */
type Tags<K extends string> = { readonly [key in K]: number } & {
  /** Every field of the message in its declared wire type (read or not by this reader). */
  readonly known: ReadonlySet<number>;
};

/**
 * The tags this reader acts on, taken from the protobufjs-compiled schema (never literals),
 * each checked for the field type the reader expects. compileWireSchema answers null when
 * the schema differs (a field gone, renamed, retyped): then there is no fast path.
 */
export interface WireSchema {
  readonly request: Tags<'resourceLogs'>;
  readonly resourceLogs: Tags<'resource' | 'scopeLogs' | 'schemaUrl'>;
  readonly scopeLogs: Tags<'scope' | 'logRecords' | 'schemaUrl'>;
  readonly logRecord: Tags<
    | 'timeUnixNano'
    | 'observedTimeUnixNano'
    | 'severityNumber'
    | 'severityText'
    | 'body'
    | 'attributes'
    | 'droppedAttributesCount'
    | 'flags'
    | 'traceId'
    | 'spanId'
    | 'eventName'
  >;
  readonly keyValue: Tags<'key' | 'value'>;
  readonly anyValue: Tags<
    | 'stringValue'
    | 'boolValue'
    | 'intValue'
    | 'doubleValue'
    | 'arrayValue'
    | 'kvlistValue'
    | 'bytesValue'
  >;
  readonly arrayValue: Tags<'values'>;
  readonly kvlistValue: Tags<'values'>;
  /** protobufjs's generated decoders of Resource and InstrumentationScope. */
  readonly parts: WireParts;
}

const COMMON = 'opentelemetry.proto.common.v1';
const LOGS = 'opentelemetry.proto.logs.v1';

export function compileWireSchema(root: protobuf.Root, parts: WireParts): WireSchema | null {
  try {
    const type = (name: string): protobuf.Type => root.lookupType(name);
    return {
      request: tags(type('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest'), {
        resourceLogs: `*.${LOGS}.ResourceLogs`,
      }),
      resourceLogs: tags(type(`${LOGS}.ResourceLogs`), {
        resource: '.opentelemetry.proto.resource.v1.Resource',
        scopeLogs: `*.${LOGS}.ScopeLogs`,
        schemaUrl: 'string',
      }),
      scopeLogs: tags(type(`${LOGS}.ScopeLogs`), {
        scope: `.${COMMON}.InstrumentationScope`,
        logRecords: `*.${LOGS}.LogRecord`,
        schemaUrl: 'string',
      }),
      logRecord: tags(type(`${LOGS}.LogRecord`), {
        timeUnixNano: 'fixed64',
        observedTimeUnixNano: 'fixed64',
        severityNumber: 'enum',
        severityText: 'string',
        body: `.${COMMON}.AnyValue`,
        attributes: `*.${COMMON}.KeyValue`,
        droppedAttributesCount: 'uint32',
        flags: 'fixed32',
        traceId: 'bytes',
        spanId: 'bytes',
        eventName: 'string',
      }),
      keyValue: tags(type(`${COMMON}.KeyValue`), { key: 'string', value: `.${COMMON}.AnyValue` }),
      anyValue: tags(type(`${COMMON}.AnyValue`), {
        stringValue: 'string',
        boolValue: 'bool',
        intValue: 'int64',
        doubleValue: 'double',
        arrayValue: `.${COMMON}.ArrayValue`,
        kvlistValue: `.${COMMON}.KeyValueList`,
        bytesValue: 'bytes',
      }),
      arrayValue: tags(type(`${COMMON}.ArrayValue`), { values: `*.${COMMON}.AnyValue` }),
      kvlistValue: tags(type(`${COMMON}.KeyValueList`), { values: `*.${COMMON}.KeyValue` }),
      parts,
    };
  } catch {
    return null;
  }
}

/**
 * The tags of `fields` (name -> expected type: a scalar type name, `enum`, or a message's
 * full name, `*` first when repeated), throwing when the schema says otherwise.
 */
function tags<K extends string>(
  type: protobuf.Type,
  fields: { readonly [key in K]: string },
): Tags<K> {
  const out: Record<string, number> = {};
  for (const [name, expected] of Object.entries<string>(fields)) {
    const field = type.fields[name];
    if (field === undefined) throw new Error(`${type.name}.${name}: not in the schema`);
    const { kind, tag } = describe(field);
    if (kind !== expected) throw new Error(`${type.name}.${name}: ${kind}, not ${expected}`);
    out[name] = tag;
  }
  const known = new Set(type.fieldsArray.map((f) => describe(f).tag));
  return { ...(out as { [key in K]: number }), known };
}

function describe(field: protobuf.Field): { kind: string; tag: number } {
  field.resolve();
  const resolved = field.resolvedType;
  const many = field.repeated ? '*' : '';
  if (resolved instanceof protobuf.Type) {
    return { kind: `${many}${resolved.fullName}`, tag: ((field.id << 3) | 2) >>> 0 };
  }
  if (resolved instanceof protobuf.Enum) return { kind: `${many}enum`, tag: (field.id << 3) >>> 0 };
  const wire = (protobuf.types.basic as Record<string, number | undefined>)[field.type];
  if (wire === undefined) throw new Error(`${field.name}: type ${field.type}`);
  return { kind: `${many}${field.type}`, tag: ((field.id << 3) | wire) >>> 0 };
}

/**
 * The request mapped as map.ts's mapLogsRequest would map its protobufjs decoding, or null
 * when this reader does not take it (see the header).
 */
export function mapLogsProtobuf(
  body: Uint8Array,
  opts: MapOptions,
  schema: WireSchema,
): WireResult | null {
  try {
    return new WireReader(body, opts, schema).request();
  } catch {
    // BAIL, or protobufjs's Reader refusing the bytes: the protobufjs path decides.
    return null;
  }
}

/**
 * One request's walk. Every read is a protobufjs Reader method (tag, uint32, int32, bool,
 * int64, fixed32, double, stringVerify, skipType), as the generated decoders call them for
 * these field types; a sub-message is read up to its end and must end there.
 */
class WireReader {
  private readonly r: protobuf.Reader;
  private readonly buf: Buffer;
  private readonly mapping: Mapping;
  private readonly maxEvents: number;
  // The last value read: its texts, its member's tag and (a string) its text, and for a
  // kvlist whether a `__proto__` key is in it (through kvlists only, as map.ts's refusedKey).
  private canon = '';
  private json = '';
  private kind = 0;
  private str = '';
  private refusedInside = false;
  // A record's attributes (records do not nest; kvlists inside values have their own).
  private readonly keys: string[] = [];
  private readonly canons: string[] = [];
  private readonly jsons: string[] = [];

  constructor(
    body: Uint8Array,
    opts: MapOptions,
    private readonly s: WireSchema,
  ) {
    this.buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    this.r = protobuf.Reader.create(this.buf);
    this.mapping = new Mapping(opts);
    this.maxEvents = opts.rules.limits.maxEvents;
  }

  request(): WireResult {
    const { r } = this;
    const tags = this.s.request;
    const end = this.buf.length;
    while (r.pos < end) {
      const t = r.tag();
      if (t === tags.resourceLogs) this.resourceLogs(this.end(end));
      else this.other(t, tags.known, end, 0);
    }
    return { records: this.mapping.records, ...this.mapping.result() };
  }

  /** A length prefix: the end of the sub-message or field it announces, within `end`. */
  private end(end: number): number {
    const at = this.r.uint32() + this.r.pos;
    if (at > end) throw BAIL;
    return at;
  }

  /**
   * A field this reader does not act on: one the schema declares (in its wire type) is
   * protobufjs's to read; any other (unknown, or in another wire type) protobufjs's decoder
   * skips, and so does this.
   */
  private other(t: number, known: ReadonlySet<number>, end: number, depth: number): void {
    // Groups (wire types 3, 4; no OTLP field is one) skip recursively against protobufjs's
    // depth count, which this walk does not keep exactly.
    const wire = t & 7;
    if (known.has(t) || wire === 3 || wire === 4) throw BAIL;
    this.r.skipType(wire, depth, t >>> 3);
    if (this.r.pos > end) throw BAIL;
  }

  /** A sub-message's bytes, for protobufjs's generated decoder; its errors are protobufjs's. */
  private message(end: number): Uint8Array {
    const bytes = this.buf.subarray(this.r.pos, end);
    this.r.pos = end;
    return bytes;
  }

  /** A string field (strict UTF-8, as the generated decoders read proto3 strings). */
  private string(end: number): string {
    const s = this.r.stringVerify();
    if (this.r.pos > end) throw BAIL;
    return s;
  }

  /** A bytes field as text: hex or base64 of the bytes in place. */
  private bytes(end: number, encoding: 'hex' | 'base64'): string {
    const at = this.end(end);
    const start = this.r.pos;
    this.r.pos = at;
    return start === at ? '' : this.buf.toString(encoding, start, at);
  }

  private resourceLogs(end: number): void {
    const { r } = this;
    const tags = this.s.resourceLogs;
    let resource: ResourceContext | null = null;
    let scopes = false;
    while (r.pos < end) {
      const t = r.tag();
      if (t === tags.resource) {
        // Exporters write fields in number order; the resource after its scopes (or twice:
        // protobufjs merges) is left to protobufjs.
        if (resource !== null || scopes) throw BAIL;
        const res = this.s.parts.resource(this.message(this.end(end)));
        if (tooDeep(res.attributes ?? [], 0)) throw BAIL;
        resource = this.mapping.resource(res.attributes ?? [], res.droppedAttributesCount ?? 0);
      } else if (t === tags.scopeLogs) {
        resource ??= this.mapping.resource([], 0);
        scopes = true;
        this.scopeLogs(resource, this.end(end));
      } else if (t === tags.schemaUrl) {
        this.string(end);
      } else this.other(t, tags.known, end, 1);
    }
    if (r.pos !== end) throw BAIL;
  }

  private scopeLogs(resource: ResourceContext, end: number): void {
    const { r } = this;
    const tags = this.s.scopeLogs;
    let scope: ScopeContext | null = null;
    while (r.pos < end) {
      const t = r.tag();
      if (t === tags.scope) {
        if (scope !== null) throw BAIL;
        const sc = this.s.parts.scope(this.message(this.end(end)));
        if (tooDeep(sc.attributes ?? [], 0)) throw BAIL;
        scope = this.mapping.scope(resource, sc);
      } else if (t === tags.logRecords) {
        scope ??= this.mapping.scope(resource, {});
        this.logRecord(scope, this.end(end));
      } else if (t === tags.schemaUrl) {
        this.string(end);
      } else this.other(t, tags.known, end, 2);
    }
    if (r.pos !== end) throw BAIL;
  }

  private logRecord(scope: ScopeContext, end: number): void {
    const { r } = this;
    const tags = this.s.logRecord;
    const at = this.mapping.next();
    if (at >= this.maxEvents) throw BAIL;
    let timeLo = 0;
    let timeHi = 0;
    let observedLo = 0;
    let observedHi = 0;
    let severityNumber = 0;
    let severityText = '""';
    let body: Texts = NULL_TEXTS;
    let bodySeen = false;
    let dropped = 0;
    let flags = 0;
    let traceId = '';
    let spanId = '';
    let eventName = '""';
    let n = 0;
    let uid: string | undefined;
    let uidSeen = false;
    let refused = false;
    const { keys, canons, jsons } = this;
    const { stringValue, kvlistValue } = this.s.anyValue;
    while (r.pos < end) {
      const t = r.tag();
      if (t === tags.attributes) {
        const key = this.keyValue(this.end(end), 1);
        if (key === '__proto__' || (this.kind === kvlistValue && this.refusedInside)) {
          refused = true;
        }
        if (!uidSeen && key === UID_ATTRIBUTE) {
          uidSeen = true;
          uid = this.kind === stringValue ? this.str : undefined;
        }
        const q = JSON.stringify(key);
        keys[n] = key;
        canons[n] = `[${q},${this.canon}]`;
        jsons[n] = `${q}:${this.json}`;
        n++;
      } else if (t === tags.timeUnixNano) {
        // fixed64 as its two little-endian 32-bit halves (no Long).
        timeLo = r.fixed32();
        timeHi = r.fixed32();
      } else if (t === tags.observedTimeUnixNano) {
        observedLo = r.fixed32();
        observedHi = r.fixed32();
      } else if (t === tags.severityNumber) {
        severityNumber = r.int32();
      } else if (t === tags.severityText) {
        severityText = JSON.stringify(this.string(end));
      } else if (t === tags.body) {
        // Given twice, protobufjs merges the two.
        if (bodySeen) throw BAIL;
        bodySeen = true;
        this.value(this.end(end), 1);
        body = [this.canon, this.json];
      } else if (t === tags.droppedAttributesCount) {
        dropped = r.uint32();
      } else if (t === tags.flags) {
        flags = r.fixed32();
      } else if (t === tags.traceId) {
        traceId = this.bytes(end, 'hex');
      } else if (t === tags.spanId) {
        spanId = this.bytes(end, 'hex');
      } else if (t === tags.eventName) {
        eventName = JSON.stringify(this.string(end));
      } else this.other(t, tags.known, end, 3);
      if (r.pos > end) throw BAIL;
    }
    if (scope.refused || refused) {
      this.mapping.refuse(at);
      return;
    }
    this.mapping.record(scope, at, {
      body,
      attrs: listTexts(keys, canons, jsons, n),
      severityText,
      eventName,
      traceId,
      spanId,
      time: nanosOfBits(timeLo, timeHi),
      observed: nanosOfBits(observedLo, observedHi),
      severityNumber,
      dropped,
      flags,
      uid,
    });
  }

  /** A KeyValue: returns its key; its value is left in the value fields (no value: "n"). */
  private keyValue(end: number, depth: number): string {
    const { r } = this;
    const tags = this.s.keyValue;
    let key = '';
    let valueSeen = false;
    this.setNone();
    while (r.pos < end) {
      const t = r.tag();
      if (t === tags.key) {
        key = this.string(end);
      } else if (t === tags.value) {
        if (valueSeen) throw BAIL;
        valueSeen = true;
        // The key may follow the value on the wire; the value fields survive reading it.
        this.value(this.end(end), depth);
      } else this.other(t, tags.known, end, depth + 1);
    }
    if (r.pos !== end) throw BAIL;
    return key;
  }

  private setNone(): void {
    this.canon = NULL_TEXTS[0];
    this.json = NULL_TEXTS[1];
    this.kind = 0;
    this.refusedInside = false;
  }

  /** An AnyValue into the value fields, as map.ts's valueTexts writes it. */
  private value(end: number, depth: number): void {
    if (depth > MAX_DEPTH) throw BAIL;
    const { r } = this;
    const tags = this.s.anyValue;
    this.setNone();
    let kind = 0;
    while (r.pos < end) {
      const t = r.tag();
      // A second member (or the same one twice): protobufjs keeps both, or merges.
      if (kind !== 0 && tags.known.has(t)) throw BAIL;
      if (t === tags.stringValue) {
        const s = this.string(end);
        const q = JSON.stringify(s);
        this.str = s;
        this.canon = `["s",${q}]`;
        this.json = q;
      } else if (t === tags.boolValue) {
        const b = r.bool();
        this.canon = b ? '["b",true]' : '["b",false]';
        this.json = b ? 'true' : 'false';
      } else if (t === tags.intValue) {
        const v = r.int64();
        const safe = int64SafeBits(v.low, v.high, false);
        const text = safe === null ? int64TextBits(v.low, v.high, false) : String(safe);
        this.canon = `["i","${text}"]`;
        this.json = safe === null ? `"${text}"` : text;
      } else if (t === tags.doubleValue) {
        const d = r.double();
        const text = String(d);
        // String(d) is JSON's number text for a finite double (-0 included: "0").
        this.canon = `["d","${Object.is(d, -0) ? '-0' : text}"]`;
        this.json = Number.isFinite(d) ? text : `"${text}"`;
      } else if (t === tags.bytesValue) {
        const b64 = this.bytes(end, 'base64');
        this.canon = `["y","${b64}"]`;
        this.json = `"${b64}"`;
      } else if (t === tags.arrayValue) {
        this.array(this.end(end), depth);
      } else if (t === tags.kvlistValue) {
        this.kvlist(this.end(end), depth);
      } else {
        this.other(t, tags.known, end, depth + 1);
        continue;
      }
      if (r.pos > end) throw BAIL;
      kind = t;
    }
    if (r.pos !== end) throw BAIL;
    this.kind = kind;
  }

  private array(end: number, depth: number): void {
    const { r } = this;
    const tags = this.s.arrayValue;
    let canon = '["a",[';
    let json = '[';
    let first = true;
    while (r.pos < end) {
      const t = r.tag();
      if (t !== tags.values) {
        this.other(t, tags.known, end, depth + 1);
        continue;
      }
      this.value(this.end(end), depth + 1);
      const sep = first ? '' : ',';
      canon += sep + this.canon;
      json += sep + this.json;
      first = false;
    }
    if (r.pos !== end) throw BAIL;
    this.canon = `${canon}]]`;
    this.json = `${json}]`;
    this.refusedInside = false;
  }

  private kvlist(end: number, depth: number): void {
    const { r } = this;
    const tags = this.s.kvlistValue;
    const keys: string[] = [];
    const canons: string[] = [];
    const jsons: string[] = [];
    let refused = false;
    while (r.pos < end) {
      const t = r.tag();
      if (t !== tags.values) {
        this.other(t, tags.known, end, depth + 1);
        continue;
      }
      const key = this.keyValue(this.end(end), depth + 1);
      const kvlistValue = this.s.anyValue.kvlistValue;
      if (key === '__proto__' || (this.kind === kvlistValue && this.refusedInside)) refused = true;
      const q = JSON.stringify(key);
      keys.push(key);
      canons.push(`[${q},${this.canon}]`);
      jsons.push(`${q}:${this.json}`);
    }
    if (r.pos !== end) throw BAIL;
    const [c, j] = listTexts(keys, canons, jsons, keys.length);
    this.canon = `["m",${c}]`;
    this.json = j;
    this.refusedInside = refused;
  }
}

/**
 * Attributes nested beyond MAX_DEPTH values: decoded on their own, a resource or scope starts
 * protobufjs's depth count at 0 instead of 2, so near its limit the whole request decides.
 */
function tooDeep(attrs: readonly OtlpKeyValue[], depth: number): boolean {
  if (depth > MAX_DEPTH) return true;
  for (const kv of attrs) if (valueTooDeep(kv.value, depth + 1)) return true;
  return false;
}

function valueTooDeep(v: OtlpAnyValue | null | undefined, depth: number): boolean {
  if (v === null || v === undefined) return false;
  if (depth > MAX_DEPTH) return true;
  for (const x of v.arrayValue?.values ?? []) if (valueTooDeep(x, depth + 1)) return true;
  return tooDeep(v.kvlistValue?.values ?? [], depth + 1);
}
