/**
 * The two delivery-id encodings (src/adapters/positions.ts): encode/decode round trips,
 * `compare` agrees with the numeric order of the ids (property test on random ids, BigInt
 * as the oracle), non-canonical spellings land on the same position, and ids the encoding
 * cannot have made are refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sequencePositions, streamPositions } from '../../src/adapters/positions.js';
import { comparePositions } from '../../src/ports/queue.js';
import { prng } from '../helpers/events.js';

const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);
const bigSign = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

void describe('delivery positions', () => {
  const rand = prng(14);
  const big = (digits: number): bigint => {
    let s = '';
    for (let i = 0; i < digits; i++) s += String(Math.floor(rand() * 10));
    return BigInt(s);
  };

  void it('sequence: round trip and numeric order, 2,000 random pairs', () => {
    for (let i = 0; i < 2_000; i++) {
      const a = big(1 + Math.floor(rand() * 18)) + 1n;
      const b = rand() < 0.1 ? a : big(1 + Math.floor(rand() * 18)) + 1n;
      const [ia, ib] = [a.toString(), b.toString()];
      assert.equal(sequencePositions.decode(sequencePositions.encode(ia)), ia);
      assert.equal(sign(sequencePositions.compare(ia, ib)), bigSign(a, b), `${ia} vs ${ib}`);
    }
  });

  void it('stream: round trip and (ms, seq) order, 2,000 random pairs', () => {
    for (let i = 0; i < 2_000; i++) {
      const [ams, bms] = [big(13), rand() < 0.5 ? null : big(13)];
      const a = { ms: ams, seq: big(1 + Math.floor(rand() * 3)) };
      const b = { ms: bms ?? ams, seq: big(1 + Math.floor(rand() * 3)) };
      const ia = `${a.ms}-${a.seq}`;
      const ib = `${b.ms}-${b.seq}`;
      assert.equal(streamPositions.decode(streamPositions.encode(ia)), ia);
      const expected = bigSign(a.ms, b.ms) || bigSign(a.seq, b.seq);
      assert.equal(sign(streamPositions.compare(ia, ib)), expected, `${ia} vs ${ib}`);
    }
  });

  void it('other spellings of one id share its position', () => {
    assert.deepEqual(streamPositions.encode('0012-003'), { major: '12', minor: '3' });
    assert.deepEqual(streamPositions.encode('12'), { major: '12', minor: '0' });
    assert.equal(comparePositions(streamPositions.encode('12'), streamPositions.encode('12-0')), 0);
    assert.deepEqual(sequencePositions.encode('007'), { major: '7', minor: '0' });
    assert.deepEqual(streamPositions.encode('9223372036854775807-0'), {
      major: '9223372036854775807',
      minor: '0',
    });
  });

  void it('refuses ids the encoding cannot have made', () => {
    for (const id of ['', 'a', '-1', '1.5', '1-2-3', ' 1', '9223372036854775808']) {
      assert.throws(() => streamPositions.encode(id), TypeError, id);
    }
    for (const id of ['0', '1-0', '12-3', 'x', '9223372036854775808']) {
      assert.throws(() => sequencePositions.encode(id), TypeError, id);
    }
  });
});
