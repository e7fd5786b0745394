/**
 * UUID version 7 (RFC 9562 §5.7): 48-bit Unix milliseconds, then randomness, so ids sort by
 * creation time and index well.
 *
 * `createUuidV7()` returns a generator that is also monotonic (RFC 9562 §6.2, method 1): the
 * 12-bit `rand_a` field is a counter that starts at a random value below 2048 in each new
 * millisecond and is incremented for every further id in the same millisecond; if it would
 * overflow, or the clock steps back, the generator borrows the next millisecond instead, so
 * every id it returns sorts strictly after the previous one.
 *
 * Clock and randomness are parameters so that a seeded caller (the CLI with --seed) can
 * produce the same ids on every run.
 */
import { getRandomValues } from 'node:crypto';

export interface UuidV7Options {
  /** Milliseconds since the Unix epoch; `Date.now` by default. */
  readonly now?: () => number;
  /** Fills the buffer with random bytes; `crypto.getRandomValues` by default. */
  readonly random?: (bytes: Uint8Array) => void;
}

const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) =>
  i.toString(16).padStart(2, '0'),
);
const MAX_TIMESTAMP = 2 ** 48 - 1;

function defaultRandom(bytes: Uint8Array): void {
  getRandomValues(bytes);
}

function format(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += '-';
    s += HEX[b[i] ?? 0];
  }
  return s;
}

function encode(ms: number, counter: number, random: (bytes: Uint8Array) => void): string {
  const b = new Uint8Array(16);
  random(b.subarray(8));
  // 48-bit timestamp, big-endian; split because bit operators are 32-bit in JS.
  const high = Math.floor(ms / 2 ** 32);
  const low = ms >>> 0;
  b[0] = (high >>> 8) & 0xff;
  b[1] = high & 0xff;
  b[2] = (low >>> 24) & 0xff;
  b[3] = (low >>> 16) & 0xff;
  b[4] = (low >>> 8) & 0xff;
  b[5] = low & 0xff;
  b[6] = 0x70 | ((counter >>> 8) & 0x0f); // version 7 + top 4 bits of rand_a
  b[7] = counter & 0xff;
  b[8] = 0x80 | ((b[8] ?? 0) & 0x3f); // variant 10xx
  return format(b);
}

function checkTimestamp(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_TIMESTAMP) {
    throw new RangeError(`uuidv7: timestamp out of range: ${ms}`);
  }
  return Math.floor(ms);
}

/** A monotonic UUID v7 generator; each call returns an id greater than the previous one. */
export function createUuidV7(options: UuidV7Options = {}): () => string {
  const now = options.now ?? Date.now;
  const random = options.random ?? defaultRandom;
  const two = new Uint8Array(2);
  let lastMs = -1;
  let counter = 0;
  const freshCounter = (): number => {
    random(two);
    // Below 2048 so at least 2048 ids fit in one millisecond before borrowing the next.
    return (((two[0] ?? 0) << 8) | (two[1] ?? 0)) & 0x7ff;
  };
  return () => {
    const ms = checkTimestamp(now());
    if (ms > lastMs) {
      lastMs = ms;
      counter = freshCounter();
    } else if (counter < 0xfff) {
      counter += 1;
    } else {
      lastMs = checkTimestamp(lastMs + 1);
      counter = freshCounter();
    }
    return encode(lastMs, counter, random);
  };
}

/** One UUID v7, not ordered against others from the same millisecond. */
export function uuidv7(options: UuidV7Options = {}): string {
  const random = options.random ?? defaultRandom;
  const ms = checkTimestamp((options.now ?? Date.now)());
  const two = new Uint8Array(2);
  random(two);
  return encode(ms, (((two[0] ?? 0) << 8) | (two[1] ?? 0)) & 0xfff, random);
}

/** The millisecond timestamp inside a UUID v7. */
export function uuidv7Timestamp(id: string): number {
  const hex = id.replace(/-/g, '').slice(0, 12);
  return Number.parseInt(hex, 16);
}
