/**
 * OTLP JSON checked against the protobuf JSON mapping before protobufjs reads it. protobufjs's
 * `fromObject` converts instead of refusing: `"yes"` became `true`, `"abc"` 0, `4.5` 4, a
 * negative fixed64 time wrapped to the year 2554 and `"1.5e18"` (exponent notation, which
 * the mapping allows) read as 1 ns, each answered 200 and stored (found by an outside probe).
 * SPEC: an undecodable body is 400.
 *
 * Guarantees: `normaliseOtlpJson` either throws AppError('invalid_otlp') naming the first
 * bad value by its path (`resourceLogs[0].scopeLogs[1].logRecords[2].body.intValue`), or
 * answers a copy that `fromObject` reads exactly: the fields the compiled schema declares,
 * in the type the mapping requires, and nothing else.
 * - Names: lowerCamelCase, as OTLP requires (its spec: the proto field names are not valid
 *   keys). A key the schema does not declare is ignored, as OTLP requires of receivers.
 * - null is an unset field (the mapping's rule for every type); inside a list it is refused.
 * - 32- and 64-bit integers: a JSON number with an integral value, or a string holding a JSON
 *   number with an integral value (`"10"`, `"1.5e18"`), inside the type's range, computed
 *   exactly (BigInt). 64-bit ones go on as decimal text, which fromObject reads exactly.
 *   A JSON number beyond 2^53 has already been rounded by JSON.parse (send those as
 *   strings, as every OTLP exporter does).
 * - double: a number, a numeric string, or "NaN" / "Infinity" / "-Infinity".
 * - bool: true or false; string: a string; enum: an integer in int32 range or a declared name.
 * - bytes: base64 (either alphabet, padding optional), except the trace and span ids, which
 *   OTLP writes as hex.
 * - A oneof (AnyValue's `value`) holds at most one member.
 * - Nesting past 100 message levels (protobuf's recursion limit, protoc's default) is refused,
 *   which also bounds this walk's recursion and the mapping's.
 */
import protobuf from 'protobufjs';
import { AppError } from '../domain/errors.js';

type Json = Record<string, unknown>;

const MAX_DEPTH = 100;
/** OTLP JSON's exception to base64 bytes. */
const HEX_FIELDS = new Set(['traceId', 'spanId']);
const JSON_NUMBER = /^(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;
const BASE64URL = /^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}(?:==)?|[A-Za-z0-9_-]{3}=?)?$/;
const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** [min, max] of each integer type; `long`: 64-bit (handed on as decimal text). */
const I32 = { min: -(2n ** 31n), max: 2n ** 31n - 1n, long: false };
const U32 = { min: 0n, max: 2n ** 32n - 1n, long: false };
const I64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n, long: true };
const U64 = { min: 0n, max: 2n ** 64n - 1n, long: true };
const INTEGERS: Readonly<Record<string, typeof I32>> = {
  int32: I32,
  sint32: I32,
  sfixed32: I32,
  uint32: U32,
  fixed32: U32,
  int64: I64,
  sint64: I64,
  sfixed64: I64,
  uint64: U64,
  fixed64: U64,
};

export function normaliseOtlpJson(type: protobuf.Type, body: unknown): Json {
  if (!isObject(body)) throw invalid('the body', 'must be a JSON object');
  return message(type, body, '', 1);
}

function message(type: protobuf.Type, value: Json, path: string, depth: number): Json {
  if (depth > MAX_DEPTH) {
    throw invalid(path, `is nested deeper than ${MAX_DEPTH} message levels`);
  }
  const out: Json = {};
  for (const field of type.fieldsArray) {
    const v = value[field.name];
    if (v === undefined || v === null) continue;
    const at = path === '' ? field.name : `${path}.${field.name}`;
    if (field.repeated) {
      if (!Array.isArray(v)) throw invalid(at, 'must be a list');
      out[field.name] = v.map((item: unknown, i) => {
        if (item === null) throw invalid(`${at}[${i}]`, 'must not be null in a list');
        return single(field, item, `${at}[${i}]`, depth);
      });
    } else {
      out[field.name] = single(field, v, at, depth);
    }
  }
  for (const oneof of type.oneofsArray) {
    const set = oneof.oneof.filter((name) => out[name] !== undefined);
    if (set.length > 1) {
      throw invalid(path, `holds ${set.join(' and ')}; at most one of them may be set`);
    }
  }
  return out;
}

function single(field: protobuf.Field, v: unknown, at: string, depth: number): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) {
    if (!isObject(v)) throw invalid(at, `must be a JSON object (${resolved.name})`);
    return message(resolved, v, at, depth + 1);
  }
  if (resolved instanceof protobuf.Enum) {
    if (typeof v === 'string' && Object.hasOwn(resolved.values, v)) return v;
    return Number(integer(v, I32, at, 'an enum number'));
  }
  const kind = INTEGERS[field.type];
  if (kind !== undefined) {
    const n = integer(v, kind, at, `a ${field.type}`);
    return kind.long ? n.toString() : Number(n);
  }
  switch (field.type) {
    case 'string':
      if (typeof v !== 'string') throw invalid(at, 'must be a string');
      return v;
    case 'bool':
      if (typeof v !== 'boolean') throw invalid(at, 'must be true or false');
      return v;
    case 'double':
    case 'float':
      return double(v, at);
    case 'bytes':
      return HEX_FIELDS.has(field.name) ? hexBytes(v, at) : base64Bytes(v, at);
    default:
      throw invalid(at, `has a type (${field.type}) this reader does not know`);
  }
}

/** The exact integer a JSON number or numeric string denotes, checked against `kind`. */
function integer(
  v: unknown,
  kind: { readonly min: bigint; readonly max: bigint },
  at: string,
  what: string,
): bigint {
  const n =
    typeof v === 'number'
      ? Number.isInteger(v)
        ? BigInt(v)
        : null
      : typeof v === 'string'
        ? integerText(v)
        : null;
  if (n === null) {
    throw invalid(
      at,
      `must be ${what}: an integer, as a JSON number or a string (got ${shown(v)})`,
    );
  }
  if (n < kind.min || n > kind.max) {
    throw invalid(at, `is out of range for ${what} (${kind.min} to ${kind.max})`);
  }
  return n;
}

/** "10", "-3", "1.5e18", "2.000": the integer a JSON number's text denotes, else null. */
function integerText(text: string): bigint | null {
  const m = JSON_NUMBER.exec(text);
  if (m === null) return null;
  const [, sign, whole = '', fraction = '', exponent = '0'] = m;
  let digits = (whole + fraction).replace(/^0+/, '');
  if (digits === '') return 0n;
  const trimmed = digits.replace(/0+$/, '');
  // The power of ten after the last significant digit; a huge exponent is out of any range.
  const power = Number(exponent) - fraction.length + (digits.length - trimmed.length);
  digits = trimmed;
  if (power < 0) return null;
  if (digits.length + power > 20) return 2n ** 64n;
  const n = BigInt(digits) * 10n ** BigInt(power);
  return sign === '-' ? -n : n;
}

function double(v: unknown, at: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v === 'NaN') return Number.NaN;
    if (v === 'Infinity') return Number.POSITIVE_INFINITY;
    if (v === '-Infinity') return Number.NEGATIVE_INFINITY;
    if (JSON_NUMBER.test(v)) return Number(v);
  }
  throw invalid(
    at,
    `must be a number, a numeric string, "NaN", "Infinity" or "-Infinity" (got ${shown(v)})`,
  );
}

function base64Bytes(v: unknown, at: string): Uint8Array {
  if (typeof v !== 'string' || !(BASE64.test(v) || BASE64URL.test(v))) {
    throw invalid(at, 'must be base64 text');
  }
  return Buffer.from(v, 'base64');
}

function hexBytes(v: unknown, at: string): Uint8Array | undefined {
  if (typeof v !== 'string' || !HEX.test(v)) throw invalid(at, 'must be a hex string (OTLP JSON)');
  return v === '' ? undefined : Buffer.from(v, 'hex');
}

const isObject = (v: unknown): v is Json =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

const shown = (v: unknown): string => {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
};

const invalid = (at: string, message: string): AppError =>
  new AppError(
    'invalid_otlp',
    `the body is not an OTLP ExportLogsServiceRequest (JSON): ${at} ${message}`,
  );
