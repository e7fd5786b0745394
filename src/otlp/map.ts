/**
 * OTLP log records -> logsieve events (SPEC §3 "POST /v1/logs"), read straight from the
 * decoded protobufjs messages (./types.ts) and checked by /publish's rules as they are made.
 * Pure: the receive time and the rules are passed in.
 *
 * - topic: the resource attribute `topicAttribute` (default service.name) as text, every
 *   character outside the topic alphabet replaced by `_`, cut to 200; `otlp` when absent or
 *   empty. A name that would start with a character a topic cannot start with (`_ . : / -`)
 *   gets the prefix `otlp` (`/api` -> `otlp/api`), so that no service name is refused.
 * - event_id: the record's string attribute `log.record.uid`, else `sha256:` + hex SHA-256
 *   of the canonical form below.
 * - timestamp: timeUnixNano, else observedTimeUnixNano, else the receive time (ns kept).
 * - source: resource service.instance.id, else host.name, else service.name, else `otlp`;
 *   control characters replaced by `_`, cut to 200 characters.
 *
 * Canonical form (what the content hash covers): the JSON text of
 *   [resourceAttrs, resourceDropped, [scopeName, scopeVersion, scopeAttrs, scopeDropped],
 *    [timeUnixNano, observedTimeUnixNano, severityNumber, severityText, body, attrs,
 *     droppedAttributesCount, flags, traceIdHex, spanIdHex, eventName]]
 * where unset fields take their protobuf default ("0", 0, ""), attribute lists (and kvlist
 * maps) are sorted by key (stable, so repeated keys keep their order), and every value is
 * tagged with its type: ["s",text] ["b",bool] ["i","decimal"] ["d","String(double)"]
 * ["y","base64"] ["a",[...]] ["m",[[key,value]...]] ["n"] (no value). Typed tags keep the
 * string "10", the int 10 and the double 10 apart; positional arrays need no key sorting.
 * An exporter's retry sends the same record, so it hashes equal and is dropped as a
 * duplicate; the protobuf and the JSON encoding of one record hash equal too. The text is
 * written directly (no arrays for JSON.stringify), the resource and scope part once per
 * scope; it is byte for byte what session 2's JSON.stringify of the arrays gave, so ids
 * stored before stay the ids of the same records (test/unit/otlp-map.test.ts checks the
 * writer against that construction kept as an oracle).
 *
 * Payload (stored as the event's payload; empty fields omitted where marked ?):
 *   { body, severity_number, severity_text, attributes, resource, scope: {name, version,
 *     attributes}, trace_id?, span_id?, flags?, event_name?, time_unix_nano?,
 *     observed_time_unix_nano?, dropped_attributes_count? }
 * Values become plain JSON: kvlist -> object, array -> array, int -> number when a safe
 * integer, else its decimal string, a non-finite double -> "NaN"/"Infinity"/"-Infinity",
 * bytes -> base64, no value -> null. Ids are lowercase hex; times are decimal ns strings.
 * The payload is written as JSON text: the text JSON.stringify gives for that object (same
 * key order; a repeated key or an array-index key takes the JSON.stringify path), with
 * `resource` and `scope` serialised once per resource / scope.
 *
 * Checks (the /publish rules, src/domain/validate.ts `EventRules`): topic and source once
 * per resource, a `log.record.uid` event_id per record (a sha256 id passes by construction),
 * the payload's byte size per record. By construction, and tested: every timestamp is
 * normaliseTimestamp's own output, and the payload has no non-finite number and no
 * `__proto__` key (refused, as /publish's JSON parser would).
 *
 * Two walks feed one `Mapping` (checks, canonical text, hash, payload text, events): the
 * protobufjs messages below (OTLP JSON, and any protobuf body the wire reader leaves), and
 * the protobuf wire reader (./wire.ts), which protobuf bodies normally take.
 *
 * Cost, per record of bench/otlp.ts, in-process A/B alternating per export (BENCHMARKS.md
 * "O1, session 3"): decode + mapping + checks 6.6 µs CPU where session 2's decode +
 * toObject + mapping + validator took 11.0 µs; the wire reader takes 0.72-0.79x of this
 * decode + mapping (BENCHMARKS.md "O1, session 4").
 */
import { hash } from 'node:crypto';
import type { AcceptedEvent } from '../domain/event.js';
import type { ErrorDetail } from '../domain/errors.js';
import { MAX_NAME_LENGTH } from '../domain/schemas.js';
import { hasLoneSurrogate, type EventRules } from '../domain/validate.js';
import type {
  Bytes,
  OtlpAnyValue,
  OtlpExportRequest,
  OtlpInt64,
  OtlpKeyValue,
  OtlpLogRecord,
  OtlpScope,
} from './types.js';

export const DEFAULT_TOPIC_ATTRIBUTE = 'service.name';
const FALLBACK = 'otlp';
export const UID_ATTRIBUTE = 'log.record.uid';
const SOURCE_ATTRIBUTES = ['service.instance.id', 'host.name', 'service.name'] as const;

export interface MapOptions {
  readonly topicAttribute: string;
  /** Used for records with neither time nor observed time. */
  readonly receivedAt: Date;
  /** /publish's rules (the app's validator `.rules`). */
  readonly rules: EventRules;
}

export interface MapResult {
  /** Every record as an accepted event, in request order; meaningful only without problems. */
  readonly events: AcceptedEvent[];
  /** What the rules refuse (index = record position in the request), by index. */
  readonly problems: ErrorDetail[];
}

/** Records in request order: resourceLogs, then scopeLogs, then logRecords. */
export function countRecords(request: OtlpExportRequest): number {
  let n = 0;
  for (const rl of request.resourceLogs ?? []) {
    for (const sl of rl.scopeLogs ?? []) n += sl.logRecords?.length ?? 0;
  }
  return n;
}

export function mapLogsRequest(request: OtlpExportRequest, opts: MapOptions): MapResult {
  const mapping = new Mapping(opts);
  for (const rl of request.resourceLogs ?? []) {
    const resource = mapping.resource(
      rl.resource?.attributes ?? [],
      rl.resource?.droppedAttributesCount ?? 0,
    );
    for (const sl of rl.scopeLogs ?? []) {
      const scope = mapping.scope(resource, sl.scope ?? {});
      for (const record of sl.logRecords ?? []) {
        const at = mapping.next();
        const attrs = record.attributes ?? [];
        if (scope.refused || refusedKey(attrs) !== null) {
          mapping.refuse(at);
          continue;
        }
        mapping.record(scope, at, recordParts(record, attrs));
      }
    }
  }
  return mapping.result();
}

/** What every record of one resource shares: its names and their checks, its texts. */
export interface ResourceContext {
  readonly topic: string;
  readonly source: string;
  readonly topicProblem: string | null;
  readonly sourceProblem: string | null;
  readonly topicWellFormed: boolean;
  readonly sourceWellFormed: boolean;
  readonly refused: boolean;
  /** The payload's `resource` object text. */
  readonly json: string;
  /** The canonical text's resource part, up to the scope. */
  readonly canon: string;
}

/** What every record of one scope shares (besides its resource). */
export interface ScopeContext {
  readonly resource: ResourceContext;
  /** A `__proto__` key in the resource's or the scope's attributes. */
  readonly refused: boolean;
  /** The payload text after `"attributes":{...}` up to the record's optional fields. */
  readonly shared: string;
  /** The canonical text before the record. */
  readonly prefix: string;
}

/** One record's pieces, from a decoded message (recordParts) or from the wire (wire.ts). */
export interface RecordParts {
  readonly body: Texts;
  readonly attrs: Texts;
  /** JSON text of severityText and eventName ("" when unset). */
  readonly severityText: string;
  readonly eventName: string;
  /** Lowercase hex, "" when unset. */
  readonly traceId: string;
  readonly spanId: string;
  readonly time: Nanos | null;
  readonly observed: Nanos | null;
  readonly severityNumber: number;
  readonly dropped: number;
  readonly flags: number;
  /** The string attribute log.record.uid (first attribute of that key, when a string). */
  readonly uid: string | undefined;
}

/**
 * Records in, events and problems out, in request order: the per-resource and per-scope
 * work once, then one `record` (or `refuse`) per record. Both decoders (the protobufjs
 * message walk above, the wire reader in wire.ts) go through it, so the checks, the
 * canonical text and the payload text are one code.
 */
export class Mapping {
  private readonly events: AcceptedEvent[] = [];
  private readonly problems: ErrorDetail[] = [];
  private readonly refusals: ErrorDetail[] = [];
  private readonly receivedAt: string;
  private readonly rules: EventRules;
  private readonly topicAttribute: string;
  private index = 0;

  constructor(opts: MapOptions) {
    this.rules = opts.rules;
    this.topicAttribute = opts.topicAttribute;
    this.receivedAt = opts.receivedAt.toISOString();
  }

  /** Records seen so far (the next record's index). */
  get records(): number {
    return this.index;
  }

  resource(attrs: readonly OtlpKeyValue[], dropped: number): ResourceContext {
    const topic = topicOf(findAttribute(attrs, this.topicAttribute));
    const source = sourceOf(attrs);
    const [canonAttrs, json] = attrTexts(attrs);
    return {
      topic,
      source,
      // Checked once for every record of the resource; reported on each of them.
      topicProblem: this.rules.field('topic', topic),
      sourceProblem: this.rules.field('source', source),
      topicWellFormed: topic.isWellFormed(),
      sourceWellFormed: source.isWellFormed(),
      refused: refusedKey(attrs) !== null,
      json,
      canon: `[${canonAttrs},${dropped},`,
    };
  }

  scope(resource: ResourceContext, scope: OtlpScope): ScopeContext {
    const attrs = scope.attributes ?? [];
    const name = JSON.stringify(scope.name ?? '');
    const version = JSON.stringify(scope.version ?? '');
    const [canonAttrs, json] = attrTexts(attrs);
    return {
      resource,
      refused: resource.refused || refusedKey(attrs) !== null,
      shared: `,"resource":${resource.json},"scope":{"name":${name},"version":${version},"attributes":${json}}`,
      prefix: `${resource.canon}[${name},${version},${canonAttrs},${scope.droppedAttributesCount ?? 0}],`,
    };
  }

  next(): number {
    return this.index++;
  }

  /** Record `at` has (or its resource or scope has) a `__proto__` attribute key. */
  refuse(at: number): void {
    this.refusals.push({
      index: at,
      field: 'attributes',
      message: 'attribute key "__proto__" is refused (prototype poisoning)',
    });
  }

  record(scope: ScopeContext, at: number, t: RecordParts): void {
    const r = scope.resource;
    // Counting its bytes also flattens the text built by concatenation (see flat).
    const payload = payloadText(t, scope.shared);
    const problem = recordProblem(this.rules, r, t.uid, payload);
    if (problem !== null) {
      for (const p of problem) this.problems.push({ index: at, ...p });
      return;
    }
    if (this.problems.length > 0 || this.refusals.length > 0) return;
    const eventId =
      t.uid ?? flat(`sha256:${hash('sha256', `${scope.prefix}${recordCanon(t)}]`, 'hex')}`);
    const ns = t.time ?? t.observed;
    this.events.push({
      topic: r.topic,
      event_id: eventId,
      timestamp: ns === null ? this.receivedAt : flat(isoFromNanos(ns)),
      source: r.source,
      payload,
    });
  }

  result(): MapResult {
    // Session 2 refused prototype keys before validating anything; so does this.
    return this.refusals.length > 0
      ? { events: [], problems: this.refusals }
      : { events: this.events, problems: this.problems };
  }
}

/**
 * The same text, flattened: a string built by `+` is a rope (V8 ConsString) until something
 * reads it whole. Events live on (queue log, postMessage to the store thread), and ropes
 * kept alive cost GC and a later flatten: measured, 500-event batches of 330-byte payloads
 * built from ~20 pieces took 7.4 µs per event to build and 2.0 µs to structured-clone as
 * ropes, 2.2 and 0.1 µs flattened at once (Buffer.byteLength or charCodeAt reads them whole).
 */
function flat(text: string): string {
  text.charCodeAt(0);
  return text;
}

/**
 * The validator's verdict on one built event, in its order: the schema's problems (topic,
 * event_id, source), else the first name that is not well-formed Unicode, else the payload
 * (a lone surrogate, then its size). A sha256 event_id passes by construction (71 ASCII characters).
 */
function recordProblem(
  rules: EventRules,
  c: ResourceContext,
  uid: string | undefined,
  payload: string,
): { field: string; message: string }[] | null {
  const idProblem = uid === undefined ? null : rules.field('event_id', uid);
  if (c.topicProblem !== null || idProblem !== null || c.sourceProblem !== null) {
    const out: { field: string; message: string }[] = [];
    if (c.topicProblem !== null) out.push({ field: 'topic', message: c.topicProblem });
    if (idProblem !== null) out.push({ field: 'event_id', message: idProblem });
    if (c.sourceProblem !== null) out.push({ field: 'source', message: c.sourceProblem });
    return out;
  }
  const malformed = !c.topicWellFormed
    ? 'topic'
    : uid !== undefined && !uid.isWellFormed()
      ? 'event_id'
      : !c.sourceWellFormed
        ? 'source'
        : null;
  if (malformed !== null) return [{ field: malformed, message: rules.notWellFormed }];
  // Only OTLP JSON can carry one (a \ud800 escape); protobuf strings are strict UTF-8.
  if (hasLoneSurrogate(payload)) return [{ field: 'payload', message: rules.notWellFormed }];
  const tooBig = rules.payloadBytes(Buffer.byteLength(payload));
  return tooBig === null ? null : [{ field: 'payload', message: tooBig }];
}

const TOPIC_OUTSIDE = /[^A-Za-z0-9._:/-]/gu;
const TOPIC_START = /^[A-Za-z0-9]/;

/** The topic alphabet's sanitising (see the header); exported for tests and the README. */
export function sanitiseTopic(text: string | undefined): string {
  if (text === undefined || text === '') return FALLBACK;
  let topic = text.replace(TOPIC_OUTSIDE, '_');
  if (!TOPIC_START.test(topic)) topic = FALLBACK + topic;
  return Array.from(topic).slice(0, MAX_NAME_LENGTH).join('');
}

function topicOf(value: OtlpAnyValue | undefined): string {
  return sanitiseTopic(scalarText(value));
}

/** C0/C1 controls and DEL (what a source may not contain) become `_`. */
function withoutControls(text: string): string[] {
  return Array.from(text, (ch) => {
    const c = ch.codePointAt(0) ?? 0;
    return c < 0x20 || (c >= 0x7f && c <= 0x9f) ? '_' : ch;
  });
}

function sourceOf(attrs: readonly OtlpKeyValue[]): string {
  for (const key of SOURCE_ATTRIBUTES) {
    const text = scalarText(findAttribute(attrs, key));
    if (text !== undefined && text !== '') {
      return withoutControls(text).slice(0, MAX_NAME_LENGTH).join('');
    }
  }
  return FALLBACK;
}

const NO_VALUE: OtlpAnyValue = {};

function findAttribute(attrs: readonly OtlpKeyValue[], key: string): OtlpAnyValue | undefined {
  for (const kv of attrs) if (kv.key === key) return kv.value ?? NO_VALUE;
  return undefined;
}

/** The first `key` attribute's text when it is a string value; undefined otherwise. */
function stringAttribute(attrs: readonly OtlpKeyValue[], key: string): string | undefined {
  const v = findAttribute(attrs, key);
  return v !== undefined && has(v, 'stringValue') ? (v.stringValue ?? '') : undefined;
}

const has = (v: OtlpAnyValue, field: keyof OtlpAnyValue): boolean =>
  Object.hasOwn(v, field) && v[field] !== undefined && v[field] !== null;

/** The set member of AnyValue's oneof, in session 2's order of precedence. */
type Kind = 's' | 'b' | 'i' | 'd' | 'y' | 'a' | 'm' | 'n';

function kindOf(v: OtlpAnyValue | null | undefined): Kind {
  if (v === undefined || v === null) return 'n';
  if (has(v, 'stringValue')) return 's';
  if (has(v, 'boolValue')) return 'b';
  if (has(v, 'intValue')) return 'i';
  if (has(v, 'doubleValue')) return 'd';
  if (has(v, 'bytesValue')) return 'y';
  if (has(v, 'arrayValue')) return 'a';
  if (has(v, 'kvlistValue')) return 'm';
  return 'n';
}

/** Text of a scalar value; undefined for arrays, maps, bytes and no value. */
function scalarText(v: OtlpAnyValue | undefined): string | undefined {
  if (v === undefined) return undefined;
  switch (kindOf(v)) {
    case 's':
      return v.stringValue ?? '';
    case 'i':
      return int64Text(v.intValue ?? 0);
    case 'b':
      return String(v.boolValue);
    case 'd':
      return String(v.doubleValue);
    default:
      return undefined;
  }
}

function refusedKey(attrs: readonly OtlpKeyValue[]): string | null {
  for (const kv of attrs) {
    if (kv.key === '__proto__') return kv.key;
    const v = kv.value;
    if (v !== undefined && v !== null && kindOf(v) === 'm') {
      const inner = refusedKey(v.kvlistValue?.values ?? []);
      if (inner !== null) return inner;
    }
  }
  return null;
}

// --- 64-bit integers -------------------------------------------------------------------

const TWO_32 = 4294967296;

const isLong = (v: OtlpInt64): v is Exclude<OtlpInt64, number | string> =>
  typeof v === 'object' && v !== null;

/** int64 (signed, unless the Long says unsigned) as a number when safe, else null. */
function int64Safe(v: OtlpInt64): number | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : null;
  if (typeof v === 'string') {
    const n = Number(v);
    return Number.isSafeInteger(n) && /^-?\d+$/.test(v) ? n : null;
  }
  return int64SafeBits(v.low, v.high, v.unsigned === true);
}

/** The 64-bit integer of two 32-bit halves as a number when safe, else null. */
export function int64SafeBits(low: number, highBits: number, unsigned: boolean): number | null {
  const high = unsigned ? highBits >>> 0 : highBits | 0;
  // high * 2^32 + low is exact while |high| < 2^21 (|value| < 2^53).
  if (high >= -0x200000 && high < 0x200000) {
    const n = high * TWO_32 + (low >>> 0);
    return Number.isSafeInteger(n) ? n : null;
  }
  return null;
}

/** The same as decimal text, signed: BigInt beyond 2^53 (rare). */
export function int64TextBits(low: number, high: number, unsigned: boolean): string {
  const n = int64SafeBits(low, high, unsigned);
  if (n !== null) return String(n);
  const bits = (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
  return (unsigned ? bits : BigInt.asIntN(64, bits)).toString();
}

/** int64 as canonical decimal text. Rare paths (beyond 2^53) use BigInt. */
function int64Text(v: OtlpInt64): string {
  const n = int64Safe(v);
  if (n !== null) return String(n);
  if (typeof v === 'number') return Number.isFinite(v) ? BigInt(Math.trunc(v)).toString() : '0';
  if (typeof v === 'string') return BigInt(v).toString();
  return int64TextBits(v.low, v.high, v.unsigned === true);
}

/** Nanoseconds split for text: `ms` milliseconds and `sub` (0..999,999) nanoseconds. */
export interface Nanos {
  readonly ms: number;
  readonly sub: number;
  readonly text: string;
}

/**
 * A fixed64 nanosecond count (read as unsigned 64-bit, as the wire holds it), or null for
 * unset / zero. Exact in plain numbers: with v = H·2^32 + L and 2^32 = 4294·10^6 + 967296,
 * x = H·967296 + L < 2^52, v mod 10^6 = x mod 10^6 and v div 10^6 = H·4294 + x div 10^6.
 */
function nanos(v: OtlpInt64 | undefined): Nanos | null {
  if (v === undefined) return null;
  let high: number;
  let low: number;
  if (isLong(v)) {
    high = v.high >>> 0;
    low = v.low >>> 0;
  } else if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) {
    high = Math.floor(v / TWO_32);
    low = v % TWO_32;
  } else {
    // Decimal text or an odd number (negative, unsafe): read as unsigned 64-bit via BigInt.
    let big: bigint;
    try {
      big = BigInt.asUintN(64, BigInt(typeof v === 'number' ? Math.trunc(v) : v));
    } catch {
      return null;
    }
    high = Number(big >> 32n);
    low = Number(big & 0xffffffffn);
  }
  return nanosOfBits(low, high);
}

/** The same from the two unsigned 32-bit halves. */
export function nanosOfBits(low: number, high: number): Nanos | null {
  if (high === 0 && low === 0) return null;
  const x = high * 967296 + low;
  const sub = x % 1e6;
  const ms = high * 4294 + (x - sub) / 1e6;
  const text = ms === 0 ? String(sub) : `${ms}${String(sub).padStart(6, '0')}`;
  return { ms, sub, text };
}

/**
 * RFC 3339 in UTC exactly as normaliseTimestamp writes it: milliseconds always, the
 * sub-millisecond digits only when not zero, trailing zeros trimmed.
 */
function isoFromNanos(ns: Nanos): string {
  const day = Math.floor(ns.ms / 86_400_000);
  // The date part is one Date per day seen (an export spans seconds, not days); the time of
  // day is arithmetic: a Date + toISOString per record was 0.9 µs.
  if (day !== isoDay) {
    isoDay = day;
    isoDate = new Date(day * 86_400_000).toISOString().slice(0, 11);
  }
  let rest = ns.ms - day * 86_400_000;
  const ms = rest % 1000;
  rest = (rest - ms) / 1000;
  const sec = rest % 60;
  rest = (rest - sec) / 60;
  const min = rest % 60;
  const hour = (rest - min) / 60;
  const time = `${isoDate}${two(hour)}:${two(min)}:${two(sec)}.${String(ms).padStart(3, '0')}`;
  if (ns.sub === 0) return `${time}Z`;
  return `${time}${String(ns.sub).padStart(6, '0').replace(TRAILING_ZEROS, '')}Z`;
}

const two = (n: number): string => (n < 10 ? `0${n}` : String(n));
let isoDay = Number.NaN;
let isoDate = '';
const TRAILING_ZEROS = /0+$/;

// --- canonical and payload text ---------------------------------------------------------

/** Bytes as a Buffer view; an unset bytes field of a message reads a plain `[]`. */
const bufferOf = (b: Bytes): Buffer =>
  b instanceof Uint8Array ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : Buffer.from(b);
const hexOf = (b: Bytes | undefined): string =>
  b === undefined || b.length === 0 ? '' : bufferOf(b).toString('hex');
const base64Of = (b: Bytes | undefined): string =>
  b === undefined || b.length === 0 ? '' : bufferOf(b).toString('base64');

/** A value's canonical text and its payload JSON text, from one walk. */
export type Texts = readonly [canon: string, json: string];

export const NULL_TEXTS: Texts = ['["n"]', 'null'];
export const EMPTY_ATTRS: Texts = ['[]', '{}'];

function valueTexts(v: OtlpAnyValue | null | undefined): Texts {
  switch (kindOf(v)) {
    case 's': {
      const q = JSON.stringify(v?.stringValue ?? '');
      return [`["s",${q}]`, q];
    }
    case 'b':
      return v?.boolValue === true ? ['["b",true]', 'true'] : ['["b",false]', 'false'];
    case 'i': {
      const int = v?.intValue ?? 0;
      const n = int64Safe(int);
      const text = n === null ? int64Text(int) : String(n);
      return [`["i","${text}"]`, n === null ? `"${text}"` : text];
    }
    case 'd': {
      const d = v?.doubleValue ?? 0;
      const text = String(d);
      // String(d) is JSON's number text for a finite double (-0 included: "0").
      return [`["d","${Object.is(d, -0) ? '-0' : text}"]`, Number.isFinite(d) ? text : `"${text}"`];
    }
    case 'y': {
      const b64 = base64Of(v?.bytesValue);
      return [`["y","${b64}"]`, `"${b64}"`];
    }
    case 'a': {
      const values = v?.arrayValue?.values ?? [];
      let canon = '["a",[';
      let json = '[';
      for (let i = 0; i < values.length; i++) {
        const [c, j] = valueTexts(values[i]);
        const sep = i > 0 ? ',' : '';
        canon += sep + c;
        json += sep + j;
      }
      return [`${canon}]]`, `${json}]`];
    }
    case 'm': {
      const [c, j] = attrTexts(v?.kvlistValue?.values ?? []);
      return [`["m",${c}]`, j];
    }
    default:
      return NULL_TEXTS;
  }
}

/**
 * An attribute list's canonical text `[[key,value]...]` (sorted by key in UTF-16 order,
 * stable) and its payload JSON object text (see jsonObject), each value walked once.
 */
function attrTexts(attrs: readonly OtlpKeyValue[]): Texts {
  const n = attrs.length;
  if (n === 0) return EMPTY_ATTRS;
  const keys: string[] = new Array<string>(n);
  const canons: string[] = new Array<string>(n);
  const jsons: string[] = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const kv = attrs[i] as OtlpKeyValue;
    const key = kv.key ?? '';
    const q = JSON.stringify(key);
    const [c, j] = valueTexts(kv.value);
    keys[i] = key;
    canons[i] = `[${q},${c}]`;
    jsons[i] = `${q}:${j}`;
  }
  return listTexts(keys, canons, jsons, n);
}

/**
 * The texts of a list of `n` attributes from each one's key, canonical text `[key,value]`
 * and JSON member text `key:value` (the arrays may be longer than `n`: scratch space).
 */
export function listTexts(
  keys: readonly string[],
  canons: readonly string[],
  jsons: readonly string[],
  n: number,
): Texts {
  if (n === 0) return EMPTY_ATTRS;
  let sorted = true;
  for (let i = 1; i < n && sorted; i++)
    if ((keys[i - 1] as string) > (keys[i] as string)) sorted = false;
  let canon = '[';
  if (sorted) {
    for (let i = 0; i < n; i++) canon += (i > 0 ? ',' : '') + (canons[i] as string);
  } else {
    const order = sortedOrder(keys, n);
    for (let i = 0; i < n; i++)
      canon += (i > 0 ? ',' : '') + (canons[order[i] as number] as string);
  }
  return [`${canon}]`, jsonObject(keys, jsons, n)];
}

/** Indices of `keys` in stable UTF-16 order (insertion sort: attribute lists are short). */
function sortedOrder(keys: readonly string[], n: number): number[] {
  const order: number[] = [];
  for (let i = 0; i < n; i++) order.push(i);
  for (let i = 1; i < order.length; i++) {
    const at = order[i] as number;
    const key = keys[at] as string;
    let j = i - 1;
    while (j >= 0 && (keys[order[j] as number] as string) > key) {
      order[j + 1] = order[j] as number;
      j--;
    }
    order[j + 1] = at;
  }
  return order;
}

/**
 * The JSON text of the object `{key: value...}` as JSON.stringify writes it: members in
 * order when the keys are distinct and none is an array index; otherwise as a JS object
 * orders them (array indices ascending first, then the others at their first place), with
 * a repeated key's last value.
 */
function jsonObject(keys: readonly string[], members: readonly string[], n: number): string {
  if (plainKeys(keys, n)) {
    let out = '{';
    for (let i = 0; i < n; i++) out += (i > 0 ? ',' : '') + (members[i] as string);
    return `${out}}`;
  }
  const last = new Map<string, number>();
  for (let i = 0; i < n; i++) last.set(keys[i] as string, i);
  const indices: string[] = [];
  const names: string[] = [];
  for (const key of last.keys()) (isArrayIndex(key) ? indices : names).push(key);
  indices.sort((a, b) => Number(a) - Number(b));
  return `{${[...indices, ...names].map((key) => members[last.get(key) as number]).join(',')}}`;
}

function plainKeys(keys: readonly string[], n: number): boolean {
  for (let i = 0; i < n; i++) {
    const key = keys[i] as string;
    const c = key.charCodeAt(0);
    if (c >= 0x30 && c <= 0x39) return false; // may be an array index: rare, slow path
    for (let j = 0; j < i; j++) if (keys[j] === key) return false;
  }
  return true;
}

/** ECMAScript's array index: canonical decimal of an integer below 2^32 - 1. */
function isArrayIndex(key: string): boolean {
  const n = Number(key);
  return Number.isInteger(n) && n >= 0 && n < TWO_32 - 1 && String(n) === key;
}

function recordParts(r: OtlpLogRecord, attrs: readonly OtlpKeyValue[]): RecordParts {
  return {
    body: valueTexts(r.body),
    attrs: attrTexts(attrs),
    severityText: JSON.stringify(r.severityText ?? ''),
    eventName: JSON.stringify(r.eventName ?? ''),
    traceId: hexOf(r.traceId),
    spanId: hexOf(r.spanId),
    time: nanos(r.timeUnixNano),
    observed: nanos(r.observedTimeUnixNano),
    severityNumber: r.severityNumber ?? 0,
    dropped: r.droppedAttributesCount ?? 0,
    flags: r.flags ?? 0,
    uid: stringAttribute(attrs, UID_ATTRIBUTE),
  };
}

function recordCanon(t: RecordParts): string {
  return (
    `["${t.time?.text ?? '0'}","${t.observed?.text ?? '0'}",${t.severityNumber},` +
    `${t.severityText},${t.body[0]},${t.attrs[0]},${t.dropped},` +
    `${t.flags},"${t.traceId}","${t.spanId}",${t.eventName}]`
  );
}

/**
 * logs.proto: a trace id is 16 bytes and a span id 8, and one of another length or all
 * zeroes is invalid, which receivers SHOULD read as "no trace / no span". So the payload
 * carries only valid ids; the canonical text above keeps the bytes as sent (an exporter's
 * retry sends the same bytes, and two records that differ there stay two).
 */
const TRACE_ID_HEX = 32;
const SPAN_ID_HEX = 16;
const ALL_ZERO = /^0*$/;
const validId = (hex: string, length: number): boolean =>
  hex.length === length && !ALL_ZERO.test(hex);

function payloadText(t: RecordParts, shared: string): string {
  let out =
    `{"body":${t.body[1]},"severity_number":${t.severityNumber},` +
    `"severity_text":${t.severityText},"attributes":${t.attrs[1]}${shared}`;
  if (validId(t.traceId, TRACE_ID_HEX)) out += `,"trace_id":"${t.traceId}"`;
  if (validId(t.spanId, SPAN_ID_HEX)) out += `,"span_id":"${t.spanId}"`;
  if (t.flags !== 0) out += `,"flags":${t.flags}`;
  if (t.eventName !== '""') out += `,"event_name":${t.eventName}`;
  if (t.time !== null) out += `,"time_unix_nano":"${t.time.text}"`;
  if (t.observed !== null) out += `,"observed_time_unix_nano":"${t.observed.text}"`;
  if (t.dropped !== 0) out += `,"dropped_attributes_count":${t.dropped}`;
  return `${out}}`;
}
