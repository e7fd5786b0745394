/**
 * The two delivery-id encodings the queues of this repository use (DeliveryPositions,
 * src/ports/queue.ts). Stores see only the port; the queue picks one of these.
 *
 * - `sequencePositions`: ids are decimal integers from 1 (the queue log's sequence numbers,
 *   the in-memory queue's), position (n, 0). Dense: the embedded queue hands out every
 *   integer in order, which is what lets the SQLite store keep them as ranges.
 * - `streamPositions`: Redis stream entry ids "ms-seq", position (ms, seq). A bare integer is
 *   accepted as (n, 0), so a store first filled through a sequence queue reads the same.
 *
 * Both reject anything else with a TypeError naming the id; every integer must be below 2^63
 * (a PostgreSQL bigint, a SQLite INTEGER).
 */
import type { DeliveryPosition, DeliveryPositions } from '../ports/queue.js';
import { comparePositions } from '../ports/queue.js';

/** Already canonical (no leading zeros): no BigInt round trip needed. */
const CANONICAL = /^(0|[1-9]\d{0,17})(?:-(0|[1-9]\d{0,17}))?$/;
/** Any decimal form up to 19 digits (leading zeros allowed), normalised through BigInt. */
const LOOSE = /^(\d{1,19})(?:-(\d{1,19}))?$/;
/** 2^63 - 1: the largest PostgreSQL bigint. */
const MAX = BigInt('9223372036854775807');

function pair(id: string, allowMinor: boolean, kind: string): DeliveryPosition {
  const m = CANONICAL.exec(id);
  if (m !== null && (allowMinor || m[2] === undefined)) {
    return { major: m[1] as string, minor: m[2] ?? '0' };
  }
  const loose = LOOSE.exec(id);
  if (loose !== null && (allowMinor || loose[2] === undefined)) {
    const major = BigInt(loose[1] ?? '0');
    const minor = BigInt(loose[2] ?? '0');
    if (major <= MAX && minor <= MAX) return { major: major.toString(), minor: minor.toString() };
  }
  throw new TypeError(`delivery id "${id}" is not a ${kind} position`);
}

export const sequencePositions: DeliveryPositions = {
  kind: 'sequence',
  encode: (id) => {
    const p = pair(id, false, 'sequence');
    if (p.major === '0') throw new TypeError(`delivery id "${id}" is not a sequence position`);
    return p;
  },
  decode: (p) => p.major,
  compare: (a, b) => comparePositions(sequencePositions.encode(a), sequencePositions.encode(b)),
};

export const streamPositions: DeliveryPositions = {
  kind: 'stream',
  encode: (id) => pair(id, true, 'stream'),
  decode: (p) => `${p.major}-${p.minor}`,
  compare: (a, b) => comparePositions(streamPositions.encode(a), streamPositions.encode(b)),
};
