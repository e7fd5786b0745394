/**
 * The Redis queue's wire formats (src/adapters/redis/codec.ts, scripts.ts) under hostile
 * input, without a server: the encoded event, the U+001E-joined ENQUEUE argument and the
 * 0xFF-split READ reply. test/contract/redis-postgres.test.ts sends the same hostile events
 * through the real scripts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EVENT_SEPARATOR,
  compareIds,
  decodeEvent,
  encodeEvent,
  parseReadBlob,
} from '../../src/adapters/redis/codec.js';
import type { AcceptedEvent } from '../../src/domain/event.js';
import { prng } from '../helpers/events.js';
import { anyString, int, jsonObject, payloadOfBytes, validEvents } from '../helpers/hostile.js';

const SEEDS = [1, 2, 3, 0x5eed, 20251024];

function anyEvent(rand: () => number): AcceptedEvent {
  return {
    topic: anyString(rand),
    event_id: anyString(rand),
    timestamp: anyString(rand),
    source: anyString(rand),
    payload: JSON.stringify(jsonObject(rand)),
  };
}

/** A stream id as Redis makes them: ms and seq, both up to 2^64 - 1. */
function streamId(rand: () => number): string {
  const big = (): bigint =>
    rand() < 0.2 ? 2n ** 64n - 1n - BigInt(int(rand, 0, 3)) : BigInt(int(rand, 0, 1e6));
  return `${big()}-${big()}`;
}

/** The READ script's reply, built the way scripts.ts documents it. */
function readReply(entries: readonly { id: string; value: string }[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(Buffer.from(e.id, 'latin1'), Buffer.of(0xff), Buffer.from(e.value), Buffer.of(0xff));
  }
  return Buffer.concat(parts);
}

void describe('Redis queue codec: properties', () => {
  void it('an event with any strings in its names round-trips through encodeEvent/decodeEvent', () => {
    for (const seed of SEEDS) {
      const rand = prng(seed);
      for (let i = 0; i < 500; i++) {
        const e = anyEvent(rand);
        assert.deepEqual(decodeEvent(encodeEvent(e)), e, `seed ${seed} #${i}`);
      }
    }
    const max: AcceptedEvent = { ...anyEvent(prng(9)), payload: payloadOfBytes(64 * 1024) };
    assert.deepEqual(decodeEvent(encodeEvent(max)), max);
  });

  void it('no encoded event holds U+001E, so an ENQUEUE blob splits back into exactly its events', () => {
    for (const seed of SEEDS) {
      const rand = prng(seed);
      const events = [
        ...validEvents(seed, 200),
        ...Array.from({ length: 200 }, () => anyEvent(rand)),
      ];
      const encoded = events.map(encodeEvent);
      for (const text of encoded) assert.ok(!text.includes(EVENT_SEPARATOR), `seed ${seed}`);
      const blob = encoded.join(EVENT_SEPARATOR);
      assert.deepEqual(blob.split(EVENT_SEPARATOR).map(decodeEvent), events, `seed ${seed}`);
    }
  });

  void it('no encoded event holds byte 0xFF in UTF-8, so a READ reply splits back into its entries', () => {
    for (const seed of SEEDS) {
      const rand = prng(seed);
      const entries = Array.from({ length: 300 }, () => {
        // An empty value is an entry deleted while pending: read, but nothing to deliver.
        const deleted = rand() < 0.1;
        const event = anyEvent(rand);
        return { id: streamId(rand), event, value: deleted ? '' : encodeEvent(event) };
      });
      for (const e of entries) assert.ok(!Buffer.from(e.value).includes(0xff));
      const blob = parseReadBlob(readReply(entries));
      const kept = entries.filter((e) => e.value !== '');
      assert.deepEqual(
        blob.deliveries,
        kept.map((e) => ({ id: e.id, event: e.event })),
        `seed ${seed}`,
      );
      assert.equal(blob.lastId, entries.at(-1)?.id);
      assert.equal(blob.waitAfter, entries.at(-1)?.id);
    }
  });

  void it('a READ reply with nothing read names the id to wait after; an empty reply waits for new entries', () => {
    assert.deepEqual(parseReadBlob(Buffer.from('=1700000000000-7')), {
      deliveries: [],
      lastId: null,
      waitAfter: '1700000000000-7',
    });
    assert.deepEqual(parseReadBlob(Buffer.from('=0-0')).waitAfter, '0-0');
    assert.deepEqual(parseReadBlob(Buffer.alloc(0)), {
      deliveries: [],
      lastId: null,
      waitAfter: '$',
    });
  });

  void it('a READ reply cut anywhere inside an entry is refused, never half-read', () => {
    const rand = prng(4);
    const reply = readReply(
      Array.from({ length: 5 }, () => ({ id: streamId(rand), value: encodeEvent(anyEvent(rand)) })),
    );
    const ends = new Set<number>();
    for (let i = 0, n = 0; i < reply.length; i++) {
      if (reply[i] === 0xff && ++n % 2 === 0) ends.add(i + 1);
    }
    for (let k = 0; k < 200; k++) {
      const cut = int(rand, 1, reply.length - 1);
      if (ends.has(cut)) continue;
      assert.throws(() => parseReadBlob(reply.subarray(0, cut)), /truncated/);
    }
  });

  void it('compareIds orders stream ids as (ms, seq) pairs of 64-bit integers', () => {
    const rand = prng(11);
    const ids = Array.from({ length: 400 }, () => streamId(rand));
    const key = (id: string): [bigint, bigint] => {
      const [ms = '0', seq = '0'] = id.split('-');
      return [BigInt(ms), BigInt(seq)];
    };
    for (let i = 0; i + 1 < ids.length; i++) {
      const a = ids[i] as string;
      const b = ids[i + 1] as string;
      const [am, as] = key(a);
      const [bm, bs] = key(b);
      const expected = am === bm ? (as === bs ? 0 : as < bs ? -1 : 1) : am < bm ? -1 : 1;
      assert.equal(compareIds(a, b), expected, `${a} vs ${b}`);
      assert.equal(compareIds(b, a), -expected, `${b} vs ${a}`);
    }
  });
});
