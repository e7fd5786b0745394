/**
 * Hostile inputs for the wire-codec property tests, from a seeded PRNG so a failure names a
 * seed that reproduces it.
 *
 * Two alphabets:
 * - VALID_RISKY: characters the domain validator lets through in event_id and source that a
 *   bespoke format could still trip over: the list separators (',', '-', '='), JSON's
 *   specials, line and paragraph separators, BOM, noncharacters, U+00FF (0xFF in latin1),
 *   astral characters (surrogate pairs) and combining marks.
 * - FORBIDDEN: what the validator refuses in names (C0/C1 controls, DEL, lone surrogates),
 *   including every separator the wire formats use (U+001E, U+001F, "\n"). Codecs that claim
 *   to carry any string are tested with these too. Payload strings hold all of them but the
 *   lone surrogates, which a payload may not hold either.
 *
 * `validInputs` builds EventInput objects and runs them through the real validator, so what
 * the queue and store contracts push through an adapter is exactly what /publish accepts.
 */
import { createEventValidator } from '../../src/domain/validate.js';
import type { AcceptedEvent } from '../../src/domain/event.js';
import { MAX_NAME_LENGTH } from '../../src/domain/schemas.js';
import { prng } from './events.js';

export type Rand = () => number;

export const VALID_RISKY: readonly string[] = [
  ',',
  '-',
  '=',
  '"',
  '\\',
  '/',
  ':',
  ' ',
  '{',
  '}',
  '[',
  ']',
  '\u00a0',
  '\u00ff',
  '\u0100',
  '\u2028',
  '\u2029',
  '\ufeff',
  '\ufffd',
  '\ufffe',
  '\uffff',
  '\u{1F600}',
  '\u{10FFFF}',
  'e\u0301',
  '日',
  'ע',
  'a',
  'Z',
  '0',
];

export const FORBIDDEN: readonly string[] = [
  '\u0000',
  '\n',
  '\r',
  '\t',
  '\u001e',
  '\u001f',
  '\u007f',
  '\u0085',
  '\u009f',
  '\ud800',
  '\udfff',
];

/** The topic alphabet (SPEC §2) after its first character. */
const TOPIC_TAIL = 'AZaz09._:/-';

export const pick = <T>(rand: Rand, items: readonly T[]): T =>
  items[Math.floor(rand() * items.length)] as T;

export const int = (rand: Rand, min: number, max: number): number =>
  min + Math.floor(rand() * (max - min + 1));

/**
 * A string of `length` code points from `alphabet` (lengths: 0 and 1 and the maximum more
 * often than chance would give them, since those are the edges).
 */
export function stringOf(rand: Rand, alphabet: readonly string[], min = 0, max = 40): string {
  const edge = rand();
  const length = edge < 0.1 ? min : edge < 0.2 ? max : int(rand, min, max);
  let out = '';
  for (let i = 0; i < length; i++) out += pick(rand, alphabet);
  return out;
}

/** A valid name (event_id, source): 1..200 code points, risky ones included. */
export function validName(rand: Rand): string {
  // 'e\u0301' is two code points; count code points, not picks, against the maximum.
  let out = '';
  let points = 0;
  const target = rand() < 0.15 ? MAX_NAME_LENGTH : int(rand, 1, 60);
  while (points < target) {
    const c = pick(rand, VALID_RISKY);
    const n = [...c].length;
    if (points + n > target) continue;
    out += c;
    points += n;
  }
  return out;
}

export function validTopic(rand: Rand): string {
  const length = rand() < 0.1 ? MAX_NAME_LENGTH : int(rand, 1, 30);
  let out = pick(rand, ['a', 'Z', '0', '9']);
  for (let i = 1; i < length; i++) out += pick(rand, [...TOPIC_TAIL]);
  return out;
}

/** Any string at all, forbidden characters and lone surrogates included. */
export function anyString(rand: Rand): string {
  return stringOf(rand, [...VALID_RISKY, ...FORBIDDEN], 0, 60);
}

/**
 * A string a payload may hold: any character but a lone surrogate, which the validator
 * refuses in a payload too (controls are JSON escapes there, and allowed).
 */
export function payloadString(rand: Rand): string {
  return stringOf(rand, PAYLOAD_RISKY, 0, 60);
}
const PAYLOAD_RISKY = [...VALID_RISKY, ...FORBIDDEN].filter((c) => c.isWellFormed());

/** A JSON value with hostile strings, numbers at the edges of doubles, and nesting. */
export function jsonValue(rand: Rand, depth = 0): unknown {
  const r = rand();
  if (depth > 4 || r < 0.35) {
    return pick(rand, [
      () => payloadString(rand),
      () => pick(rand, [0, -0, 1, -1, 0.1, 1e21, 1e-7, 5e-324, 1.7976931348623157e308]),
      () => Number.MAX_SAFE_INTEGER + 2,
      () => pick(rand, [true, false, null]),
    ])();
  }
  if (r < 0.6) {
    return Array.from({ length: int(rand, 0, 4) }, () => jsonValue(rand, depth + 1));
  }
  return jsonObject(rand, depth + 1);
}

/** A JSON object whose keys are hostile too (integer-like keys reorder in V8). */
export function jsonObject(rand: Rand, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const n = int(rand, 0, 5);
  for (let i = 0; i < n; i++) {
    const key = pick(rand, [
      () => payloadString(rand),
      () => String(int(rand, 0, 20)),
      () => '4294967295',
      () => 'constructor',
    ])();
    out[key] = jsonValue(rand, depth);
  }
  if (rand() < 0.1) {
    // An own "__proto__" key, as JSON.parse makes one.
    Object.assign(out, JSON.parse('{"__proto__":{"x":1}}') as object);
  }
  return out;
}

const TIMESTAMPS = [
  '2025-10-24T00:00:00Z',
  '2025-10-24T07:00:00.123456789+07:00',
  '1970-01-01T00:00:00.000Z',
  '9999-12-31T23:59:59.999999Z',
  '2024-02-29T12:00:00-12:00',
];

const validator = createEventValidator({ maxEvents: 100_000, maxPayloadBytes: 64 * 1024 });

/** `n` events that the real validator accepted, as /publish would hand them to the queue. */
export function validEvents(seed: number, n: number): AcceptedEvent[] {
  const rand = prng(seed);
  const inputs = Array.from({ length: n }, () => ({
    topic: validTopic(rand),
    event_id: validName(rand),
    timestamp: pick(rand, TIMESTAMPS),
    source: validName(rand),
    payload: jsonObject(rand),
  }));
  return validator(inputs);
}

/** A payload of exactly `bytes` bytes serialised, with escapes and multi-byte characters. */
export function payloadOfBytes(bytes: number): string {
  const head = '{"s":"';
  const tail = '\\n\\u0000"}';
  let body = '';
  const unit = 'é😀"\\x'; // serialises to é😀\"\\x: 2 + 4 + 2 + 2 + 1 bytes
  const unitText = JSON.stringify(unit).slice(1, -1);
  const unitBytes = Buffer.byteLength(unitText);
  const room = bytes - Buffer.byteLength(head + tail);
  for (let i = 0; i + unitBytes <= room; i += unitBytes) body += unitText;
  body += 'x'.repeat(room - Buffer.byteLength(body));
  const text = head + body + tail;
  if (Buffer.byteLength(text) !== bytes) throw new Error('payloadOfBytes miscounted');
  return text;
}

/**
 * The most deeply nested payload the validator accepts (found by bisection at the caller's
 * stack depth), as validation hands it on. JSON.stringify recurses per level, so this is the
 * payload most likely to break a codec that serialises it again from a deeper stack.
 */
export function deepestValidEvent(): AcceptedEvent {
  const validate = createEventValidator({ maxEvents: 1, maxPayloadBytes: 16 * 1024 * 1024 });
  const accepts = (depth: number): AcceptedEvent | null => {
    const payload = JSON.parse(`{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`) as object;
    const input = { topic: 'deep', event_id: `d${depth}`, timestamp: TIMESTAMPS[0], source: 's' };
    try {
      return validate({ ...input, payload })[0] ?? null;
    } catch {
      return null;
    }
  };
  let lo = 1;
  let hi = 1 << 20;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (accepts(mid) !== null) lo = mid;
    else hi = mid - 1;
  }
  const deepest = accepts(lo);
  if (deepest === null || lo < 100) throw new Error(`validation accepts nesting only to ${lo}`);
  return deepest;
}
