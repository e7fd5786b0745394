/**
 * The event rows' checksum (src/adapters/sqlite/damage.ts rowChecksum): every column counts,
 * and moving bytes from one column into the next does not go unseen.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rowChecksum } from '../../src/adapters/sqlite/damage.js';

type Row = [number, string, string, string, string, string, string];

const ROW: Row = [
  58,
  'orders',
  'e-57',
  '2026-12-04T01:00:00.000Z',
  'svc',
  '{"i":57}',
  '2026-12-04T01:00:01.000Z',
];
const CHANGED: Row = [
  59,
  'orderz',
  'e-58',
  '2026-12-04T01:00:00.001Z',
  'svd',
  '{"i":58}',
  '2026-12-04T01:00:01.001Z',
];

const sum = ([offset, topic, event_id, timestamp, source, payload, processedAt]: Row): number =>
  rowChecksum(offset, { topic, event_id, timestamp, source, payload }, processedAt);

void describe('rowChecksum', () => {
  void it('changes with every column, the offset included', () => {
    const base = sum(ROW);
    for (let i = 0; i < ROW.length; i++) {
      const row: Row = [...ROW];
      row[i] = CHANGED[i] as never;
      assert.notEqual(sum(row), base, `column ${i}`);
    }
  });

  void it('tells a byte moved across a column boundary', () => {
    const a = sum([1, 'ab', 'c', 't', 's', '{}', 'p']);
    const b = sum([1, 'a', 'bc', 't', 's', '{}', 'p']);
    assert.notEqual(a, b);
  });

  void it('is the same for the same row, as an unsigned 32-bit number', () => {
    assert.equal(sum(ROW), sum([...ROW] as Row));
    assert.ok(Number.isInteger(sum(ROW)) && sum(ROW) >= 0 && sum(ROW) < 2 ** 32);
  });
});
