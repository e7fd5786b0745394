import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normaliseTimestamp } from '../../src/domain/timestamp.js';

void describe('timestamp normalisation', () => {
  void it('normalises Z to UTC with three fractional digits', () => {
    assert.equal(normaliseTimestamp('2025-10-24T00:00:00Z'), '2025-10-24T00:00:00.000Z');
  });

  void it('applies a positive offset, crossing midnight backwards', () => {
    assert.equal(normaliseTimestamp('2025-10-24T07:00:00+07:00'), '2025-10-24T00:00:00.000Z');
    assert.equal(normaliseTimestamp('2025-01-01T02:00:00+05:00'), '2024-12-31T21:00:00.000Z');
  });

  void it('applies a negative offset, crossing a year forwards', () => {
    assert.equal(normaliseTimestamp('2025-12-31T22:30:00-02:30'), '2026-01-01T01:00:00.000Z');
  });

  void it('accepts a compact offset like +0700', () => {
    assert.equal(normaliseTimestamp('2025-10-24T07:00:00+0700'), '2025-10-24T00:00:00.000Z');
  });

  void it('accepts lower-case t and z, and a space separator', () => {
    assert.equal(normaliseTimestamp('2025-10-24t00:00:00z'), '2025-10-24T00:00:00.000Z');
    assert.equal(normaliseTimestamp('2025-10-24 00:00:00Z'), '2025-10-24T00:00:00.000Z');
  });

  void it('keeps sub-millisecond fraction digits the publisher sent', () => {
    assert.equal(
      normaliseTimestamp('2025-10-24T00:00:00.123456789Z'),
      '2025-10-24T00:00:00.123456789Z',
    );
    assert.equal(normaliseTimestamp('2025-10-24T00:00:00.1234+01:00'), '2025-10-23T23:00:00.1234Z');
  });

  void it('pads a short fraction to milliseconds and trims only trailing zeros', () => {
    assert.equal(normaliseTimestamp('2025-10-24T00:00:00.5Z'), '2025-10-24T00:00:00.500Z');
    assert.equal(normaliseTimestamp('2025-10-24T00:00:00.123400Z'), '2025-10-24T00:00:00.1234Z');
  });

  void it('rejects a timestamp without offset (local time is ambiguous)', () => {
    assert.equal(normaliseTimestamp('2025-10-24T00:00:00'), null);
    assert.equal(normaliseTimestamp('2025-10-24T00:00:00.123'), null);
  });

  void it('rejects impossible dates such as Feb 30 and Feb 29 of a common year', () => {
    assert.equal(normaliseTimestamp('2025-02-30T00:00:00Z'), null);
    assert.equal(normaliseTimestamp('2023-02-29T00:00:00Z'), null);
    assert.equal(normaliseTimestamp('2025-04-31T00:00:00Z'), null);
    assert.equal(normaliseTimestamp('2025-13-01T00:00:00Z'), null);
    assert.equal(normaliseTimestamp('2025-00-10T00:00:00Z'), null);
  });

  void it('accepts Feb 29 of a leap year', () => {
    assert.equal(normaliseTimestamp('2024-02-29T12:00:00Z'), '2024-02-29T12:00:00.000Z');
  });

  void it('rejects a leap second and out-of-range clock fields', () => {
    assert.equal(normaliseTimestamp('2016-12-31T23:59:60Z'), null);
    assert.equal(normaliseTimestamp('2025-10-24T24:00:00Z'), null);
    assert.equal(normaliseTimestamp('2025-10-24T00:60:00Z'), null);
    assert.equal(normaliseTimestamp('2025-10-24T00:00:00+24:00'), null);
    assert.equal(normaliseTimestamp('2025-10-24T00:00:00+01:60'), null);
  });

  void it('rejects malformed text', () => {
    for (const text of [
      '',
      '2025-10-24',
      '2025-10-24T00:00Z',
      '25-10-24T00:00:00Z',
      '2025-10-24T00:00:00.Z',
      '2025-10-24T00:00:00.1234567890Z',
      '2025-10-24T00:00:00+7',
      ' 2025-10-24T00:00:00Z',
      '2025-10-24T00:00:00Z ',
      'yesterday',
    ]) {
      assert.equal(normaliseTimestamp(text), null, text);
    }
  });

  void it('keeps years 1-99 as written instead of mapping them to 19xx', () => {
    assert.equal(normaliseTimestamp('0050-06-15T12:00:00Z'), '0050-06-15T12:00:00.000Z');
  });

  void it('rejects years that fall outside 0001-9999 after normalisation', () => {
    assert.equal(normaliseTimestamp('0000-06-15T12:00:00Z'), null);
    assert.equal(normaliseTimestamp('0001-01-01T00:30:00+01:00'), null);
    assert.equal(normaliseTimestamp('9999-12-31T23:30:00-01:00'), null);
  });
});
