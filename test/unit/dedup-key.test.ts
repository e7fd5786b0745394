/**
 * The dedup key is a stored format: keys written by every earlier build (node:crypto's
 * SHA-256 over `topic NUL event_id`, behind the id's first 8 UTF-8 bytes) must come out the
 * same from the JavaScript SHA-256, or a re-sent event whose key was stored before an upgrade
 * would be stored twice.
 */
import assert from 'node:assert/strict';
import { hash, randomBytes, randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { DEDUP_KEY_BYTES, dedupKeyHash, writeDedupKey } from '../../src/domain/dedup-key.js';
import { paddedLength, sha256Into } from '../../src/domain/sha256.js';

/** The key exactly as the first retention build computed it. */
function referenceKey(topic: string, eventId: string): Buffer {
  const key = Buffer.alloc(DEDUP_KEY_BYTES);
  Buffer.from(eventId, 'utf8').copy(key, 0, 0, 8);
  hash('sha256', `${topic}\u0000${eventId}`, 'buffer').copy(key, 8, 0, 16);
  return key;
}

function jsSha256(data: Uint8Array): Buffer {
  const msg = new Uint8Array(paddedLength(data.length));
  msg.set(data);
  const out = Buffer.alloc(32);
  sha256Into(msg, data.length, out, 0, 32);
  return out;
}

void describe('SHA-256 in JavaScript', () => {
  void it('equals node:crypto at every length across block and padding boundaries', () => {
    for (let length = 0; length <= 200; length++) {
      const data = randomBytes(length);
      assert.deepEqual(jsSha256(data), hash('sha256', data, 'buffer'), `length ${length}`);
    }
  });

  void it('equals node:crypto on a long message', () => {
    const data = randomBytes(100_003);
    assert.deepEqual(jsSha256(data), hash('sha256', data, 'buffer'));
  });
});

void describe('dedup key', () => {
  void it('is the stored format for UUIDs, short, long and non-ASCII ids', () => {
    const ids = [
      ...Array.from({ length: 500 }, () => randomUUID()),
      '',
      'a',
      '1234567',
      '12345678',
      'x'.repeat(200),
      'é',
      'abcdefgé', // a 2-byte character across the 8-byte prefix
      'abcdef€z', // a 3-byte character across it
      '😀😀😀', // surrogate pairs, 4 bytes each
      'ünï-'.repeat(60),
    ];
    const topics = ['login', 'app/prod/api', 't', 'a.b-c_d/'.repeat(12)];
    for (const topic of topics) {
      for (const id of ids) {
        assert.deepEqual(dedupKeyHash(topic, id), referenceKey(topic, id), `${topic} ${id}`);
      }
    }
  });

  void it('writes side by side into a shared buffer without touching its neighbours', () => {
    const out = Buffer.alloc(DEDUP_KEY_BYTES * 3, 0xaa);
    writeDedupKey('login', 'é', out, DEDUP_KEY_BYTES);
    assert.deepEqual(out.subarray(0, DEDUP_KEY_BYTES), Buffer.alloc(DEDUP_KEY_BYTES, 0xaa));
    assert.deepEqual(
      out.subarray(DEDUP_KEY_BYTES, 2 * DEDUP_KEY_BYTES),
      referenceKey('login', 'é'),
    );
    assert.deepEqual(out.subarray(2 * DEDUP_KEY_BYTES), Buffer.alloc(DEDUP_KEY_BYTES, 0xaa));
  });

  void it('stays exact after a long input grew its scratch space', () => {
    const long = 'ü'.repeat(5_000);
    assert.deepEqual(dedupKeyHash('login', long), referenceKey('login', long));
    assert.deepEqual(dedupKeyHash('login', 'u-1'), referenceKey('login', 'u-1'));
  });
});
