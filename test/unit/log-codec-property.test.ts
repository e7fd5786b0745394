/**
 * The queue log record codec (src/adapters/log/codec.ts) under hostile input: only its public
 * encodeRecord/decodeRecord, so the test holds whatever the log's framing around them is.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeRecord, encodeRecord } from '../../src/adapters/log/codec.js';
import type { AcceptedEvent } from '../../src/domain/event.js';
import { prng } from '../helpers/events.js';
import {
  anyString,
  deepestValidEvent,
  int,
  jsonObject,
  payloadOfBytes,
  validEvents,
} from '../helpers/hostile.js';

const SEEDS = [1, 2, 3, 0x5eed, 20251024];

/** Runs `f` under `frames` extra stack frames (V8 does not eliminate these calls). */
function underFrames<T>(frames: number, f: () => T): T {
  return frames === 0 ? f() : underFrames(frames - 1, f);
}

void describe('queue log codec: properties', () => {
  void it('every validated event round-trips exactly, one record per line', () => {
    for (const seed of SEEDS) {
      const rand = prng(seed);
      for (const [i, event] of validEvents(seed, 300).entries()) {
        const seq = int(rand, 1, Number.MAX_SAFE_INTEGER);
        const line = encodeRecord(seq, event);
        assert.equal(line.indexOf('\n'), line.length - 1, `seed ${seed} #${i}: one line`);
        assert.deepEqual(decodeRecord(line.slice(0, -1)), { seq, event }, `seed ${seed} #${i}`);
      }
    }
  });

  void it('names holding any string (separators, controls, lone surrogates, empty) round-trip', () => {
    for (const seed of SEEDS) {
      const rand = prng(seed);
      for (let i = 0; i < 300; i++) {
        const event: AcceptedEvent = {
          topic: anyString(rand),
          event_id: anyString(rand),
          timestamp: anyString(rand),
          source: anyString(rand),
          payload: JSON.stringify(jsonObject(rand)),
        };
        const line = encodeRecord(i + 1, event);
        assert.equal(line.indexOf('\n'), line.length - 1, `seed ${seed} #${i}: one line`);
        assert.deepEqual(decodeRecord(line.slice(0, -1)), { seq: i + 1, event });
      }
    }
  });

  void it('no proper prefix of a record decodes (a torn write is never taken for a record)', () => {
    for (const seed of SEEDS) {
      const rand = prng(seed);
      for (const event of validEvents(seed, 50)) {
        const line = encodeRecord(int(rand, 1, 1e9), event).slice(0, -1);
        for (let k = 0; k < 20; k++) {
          const cut = int(rand, 0, line.length - 1);
          assert.equal(decodeRecord(line.slice(0, cut)), null, `seed ${seed} cut ${cut}`);
        }
      }
    }
  });

  void it('a payload at the byte limit, full of escapes and multi-byte characters, round-trips', () => {
    const event: AcceptedEvent = {
      topic: 't',
      event_id: 'e',
      timestamp: '2025-10-24T00:00:00.000Z',
      source: 's',
      payload: payloadOfBytes(64 * 1024),
    };
    assert.deepEqual(decodeRecord(encodeRecord(9, event).slice(0, -1)), { seq: 9, event });
  });

  void it('a payload nested as deep as validation accepts decodes, whatever the stack depth at recovery', () => {
    // JSON.stringify recurses once per nesting level and JSON.parse does not. Validation
    // serialises the payload once (at the depth of the HTTP handler); a decoder that
    // serialised it again from a deeper stack (start-up recovery) would throw RangeError on
    // an acknowledged event and the aggregator could not start.
    const deepest = deepestValidEvent();
    const line = encodeRecord(1, deepest).slice(0, -1);
    assert.deepEqual(
      underFrames(300, () => decodeRecord(line)),
      { seq: 1, event: deepest },
    );
  });
});
