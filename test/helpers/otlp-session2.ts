/**
 * Test oracle: session 2's OTLP mapping, kept verbatim (its own input types included): it
 * read protobufjs `toObject` output (64-bit integers as decimal strings) and built the
 * canonical form with JSON.stringify of arrays and the payload as an object for the /publish
 * validator. src/otlp/map.ts must give the same events byte for byte (the same content-hash
 * ids, so records stored before keep deduplicating), which test/unit/otlp-oracle.test.ts
 * checks on generated requests. Not used by the application.
 */
import { hash } from 'node:crypto';
import type { ErrorDetail } from '../../src/domain/errors.js';
import { MAX_NAME_LENGTH } from '../../src/domain/schemas.js';

const FALLBACK = 'otlp';
const UID_ATTRIBUTE = 'log.record.uid';
const SOURCE_ATTRIBUTES = ['service.instance.id', 'host.name', 'service.name'] as const;

export interface MappedEvent {
  readonly topic: string;
  readonly event_id: string;
  readonly timestamp: string;
  readonly source: string;
  readonly payload: Record<string, unknown>;
}

export interface MapOptions {
  readonly topicAttribute: string;
  /** Used for records with neither time nor observed time. */
  readonly receivedAt: Date;
}

export interface MapResult {
  readonly events: MappedEvent[];
  /** Records the mapping itself refuses (index = record position in the request). */
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
  const events: MappedEvent[] = [];
  const problems: ErrorDetail[] = [];
  const receivedAt = opts.receivedAt.toISOString();
  for (const rl of request.resourceLogs ?? []) {
    const resourceAttrs = rl.resource?.attributes ?? [];
    const topic = topicOf(findAttribute(resourceAttrs, opts.topicAttribute));
    const source = sourceOf(resourceAttrs);
    const resource = toJsonMap(resourceAttrs);
    // The canonical text up to the record is the same for every record of a scope: built
    // once, then each record's hash covers prefix + record (see canonicalPrefix).
    const resourceCanon = `[${JSON.stringify(canonAttrs(resourceAttrs))},${rl.resource?.droppedAttributesCount ?? 0},`;
    for (const sl of rl.scopeLogs ?? []) {
      const scope = sl.scope ?? {};
      const scopeAttrs = scope.attributes ?? [];
      const scopeJson = {
        name: scope.name ?? '',
        version: scope.version ?? '',
        attributes: toJsonMap(scopeAttrs),
      };
      const prefix =
        resourceCanon +
        JSON.stringify([
          scope.name ?? '',
          scope.version ?? '',
          canonAttrs(scopeAttrs),
          scope.droppedAttributesCount ?? 0,
        ]) +
        ',';
      for (const record of sl.logRecords ?? []) {
        const index = events.length + problems.length;
        const attrs = record.attributes ?? [];
        const refused = refusedKey(attrs) ?? refusedKey(resourceAttrs) ?? refusedKey(scopeAttrs);
        if (refused !== null) {
          problems.push({
            index,
            field: 'attributes',
            message: `attribute key "${refused}" is refused (prototype poisoning)`,
          });
          continue;
        }
        const uid = findAttribute(attrs, UID_ATTRIBUTE)?.stringValue;
        const eventId = uid ?? `sha256:${contentHash(prefix, recordCanon(record))}`;
        events.push({
          topic,
          event_id: eventId,
          timestamp: timestampOf(record) ?? receivedAt,
          source,
          payload: payloadOf(record, resource, scopeJson),
        });
      }
    }
  }
  return { events, problems };
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

function findAttribute(attrs: readonly OtlpKeyValue[], key: string): OtlpAnyValue | undefined {
  for (const kv of attrs) if (kv.key === key) return kv.value ?? {};
  return undefined;
}

/** Text of a scalar value; undefined for arrays, maps, bytes and no value. */
function scalarText(v: OtlpAnyValue | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return v.intValue;
  if (v.boolValue !== undefined) return String(v.boolValue);
  if (v.doubleValue !== undefined) return String(v.doubleValue);
  return undefined;
}

function refusedKey(attrs: readonly OtlpKeyValue[]): string | null {
  for (const kv of attrs) {
    if (kv.key === '__proto__') return kv.key;
    const nested = kv.value?.kvlistValue?.values;
    if (nested !== undefined) {
      const inner = refusedKey(nested);
      if (inner !== null) return inner;
    }
  }
  return null;
}

/** A positive nanosecond count as canonical decimal text, or null for unset / zero. */
function nanos(text: string | undefined): string | null {
  if (text === undefined || text === '' || text === '0') return null;
  // The decoder writes fixed64 as plain decimal; only a JSON client's oddity (a negative or
  // zero-padded number) needs the BigInt path, which reads it as unsigned 64-bit.
  if (DECIMAL.test(text)) return text;
  const n = BigInt.asUintN(64, BigInt(text));
  return n === 0n ? null : n.toString();
}

const DECIMAL = /^[1-9]\d*$/;

function timestampOf(record: OtlpLogRecord): string | null {
  const ns = nanos(record.timeUnixNano) ?? nanos(record.observedTimeUnixNano);
  return ns === null ? null : isoFromNanos(ns);
}

/**
 * RFC 3339 in UTC with the sub-millisecond digits kept (the validator trims zeros), from
 * canonical decimal nanoseconds: string slicing, no BigInt arithmetic on the hot path.
 */
function isoFromNanos(ns: string): string {
  const padded = ns.padStart(7, '0');
  const iso = new Date(Number(padded.slice(0, -6))).toISOString();
  const sub = padded.slice(-6);
  return sub === '000000' ? iso : `${iso.slice(0, -1)}${sub}Z`;
}

const hex = (b: Uint8Array | undefined): string =>
  b === undefined ? '' : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

type Canon = string | number | boolean | Canon[];

function canonValue(v: OtlpAnyValue | undefined): Canon {
  if (v === undefined) return ['n'];
  if (v.stringValue !== undefined) return ['s', v.stringValue];
  if (v.boolValue !== undefined) return ['b', v.boolValue];
  if (v.intValue !== undefined) return ['i', BigInt(v.intValue).toString()];
  if (v.doubleValue !== undefined) {
    return ['d', Object.is(v.doubleValue, -0) ? '-0' : String(v.doubleValue)];
  }
  if (v.bytesValue !== undefined) return ['y', Buffer.from(v.bytesValue).toString('base64')];
  if (v.arrayValue !== undefined) return ['a', (v.arrayValue.values ?? []).map(canonValue)];
  if (v.kvlistValue !== undefined) return ['m', canonAttrs(v.kvlistValue.values ?? [])];
  return ['n'];
}

function canonAttrs(attrs: readonly OtlpKeyValue[]): Canon[] {
  return attrs
    .map((kv): [string, Canon] => [kv.key ?? '', canonValue(kv.value)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function recordCanon(r: OtlpLogRecord): Canon[] {
  return [
    r.timeUnixNano ?? '0',
    r.observedTimeUnixNano ?? '0',
    r.severityNumber ?? 0,
    r.severityText ?? '',
    canonValue(r.body),
    canonAttrs(r.attributes ?? []),
    r.droppedAttributesCount ?? 0,
    r.flags ?? 0,
    hex(r.traceId),
    hex(r.spanId),
    r.eventName ?? '',
  ];
}

/**
 * SHA-256 of the canonical text `[resourceAttrs,resourceDropped,scope,record]`, given its
 * first three elements as `prefix` (`[` ... `,`): the same text JSON.stringify of the whole
 * array would give, without re-serialising the resource and scope for every record.
 */
function contentHash(prefix: string, record: Canon[]): string {
  return hash('sha256', `${prefix}${JSON.stringify(record)}]`, 'hex');
}

function toJson(v: OtlpAnyValue | undefined): unknown {
  if (v === undefined) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) {
    const n = Number(v.intValue);
    return Number.isSafeInteger(n) ? n : v.intValue;
  }
  if (v.doubleValue !== undefined) {
    return Number.isFinite(v.doubleValue) ? v.doubleValue : String(v.doubleValue);
  }
  if (v.bytesValue !== undefined) return Buffer.from(v.bytesValue).toString('base64');
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(toJson);
  if (v.kvlistValue !== undefined) return toJsonMap(v.kvlistValue.values ?? []);
  return null;
}

/** Attributes as an object (a repeated key: the last one wins). `__proto__` is refused earlier. */
function toJsonMap(attrs: readonly OtlpKeyValue[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of attrs) out[kv.key ?? ''] = toJson(kv.value);
  return out;
}

function payloadOf(
  r: OtlpLogRecord,
  resource: Record<string, unknown>,
  scope: Record<string, unknown>,
): Record<string, unknown> {
  const payload: Record<string, unknown> = {
    body: toJson(r.body),
    severity_number: r.severityNumber ?? 0,
    severity_text: r.severityText ?? '',
    attributes: toJsonMap(r.attributes ?? []),
    resource,
    scope,
  };
  const traceId = hex(r.traceId);
  const spanId = hex(r.spanId);
  if (traceId !== '') payload.trace_id = traceId;
  if (spanId !== '') payload.span_id = spanId;
  if (r.flags !== undefined && r.flags !== 0) payload.flags = r.flags;
  if (r.eventName !== undefined && r.eventName !== '') payload.event_name = r.eventName;
  const time = nanos(r.timeUnixNano);
  const observed = nanos(r.observedTimeUnixNano);
  if (time !== null) payload.time_unix_nano = time;
  if (observed !== null) payload.observed_time_unix_nano = observed;
  if (r.droppedAttributesCount !== undefined && r.droppedAttributesCount !== 0) {
    payload.dropped_attributes_count = r.droppedAttributesCount;
  }
  return payload;
}

export interface OtlpAnyValue {
  readonly stringValue?: string;
  readonly boolValue?: boolean;
  /** int64, decimal. */
  readonly intValue?: string;
  readonly doubleValue?: number;
  readonly arrayValue?: { readonly values?: readonly OtlpAnyValue[] };
  readonly kvlistValue?: { readonly values?: readonly OtlpKeyValue[] };
  readonly bytesValue?: Uint8Array;
}

export interface OtlpKeyValue {
  readonly key?: string;
  readonly value?: OtlpAnyValue;
}

export interface OtlpLogRecord {
  /** fixed64 nanoseconds since the epoch, decimal; absent or "0" = unknown. */
  readonly timeUnixNano?: string;
  readonly observedTimeUnixNano?: string;
  readonly severityNumber?: number;
  readonly severityText?: string;
  readonly body?: OtlpAnyValue;
  readonly attributes?: readonly OtlpKeyValue[];
  readonly droppedAttributesCount?: number;
  readonly flags?: number;
  readonly traceId?: Uint8Array;
  readonly spanId?: Uint8Array;
  readonly eventName?: string;
}

export interface OtlpScope {
  readonly name?: string;
  readonly version?: string;
  readonly attributes?: readonly OtlpKeyValue[];
  readonly droppedAttributesCount?: number;
}

export interface OtlpScopeLogs {
  readonly scope?: OtlpScope;
  readonly logRecords?: readonly OtlpLogRecord[];
}

export interface OtlpResource {
  readonly attributes?: readonly OtlpKeyValue[];
  readonly droppedAttributesCount?: number;
}

export interface OtlpResourceLogs {
  readonly resource?: OtlpResource;
  readonly scopeLogs?: readonly OtlpScopeLogs[];
}

export interface OtlpExportRequest {
  readonly resourceLogs?: readonly OtlpResourceLogs[];
}
