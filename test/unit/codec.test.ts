import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeRecord, encodeRecord } from '../../src/adapters/log/codec.js';
import type { AcceptedEvent } from '../../src/domain/event.js';

const event: AcceptedEvent = {
  topic: 'app/prod/api',
  event_id: 'id "quoted" \u2028 \u{1F600}',
  timestamp: '2025-10-24T00:00:00.123456Z',
  source: 'svc\\x',
  payload: JSON.stringify({ nested: { a: [1, 2.5, -0.5, 1e21, null, true] }, s: '日本語 עברית' }),
};

void describe('queue log codec', () => {
  void it('round-trips a record exactly, payload text included', () => {
    const line = encodeRecord(42, event);
    assert.ok(line.endsWith('\n'));
    assert.equal(line.indexOf('\n'), line.length - 1, 'one record is one line');
    assert.deepEqual(decodeRecord(line.slice(0, -1)), { seq: 42, event });
  });

  void it('recognises a line torn by a crash as not a record', () => {
    const line = encodeRecord(7, event).slice(0, -1);
    for (const cut of [1, 10, line.length - 1]) {
      assert.equal(decodeRecord(line.slice(0, cut)), null);
    }
  });

  void it('rejects well-formed JSON that is not a record', () => {
    for (const text of [
      '{}',
      '[]',
      '[1,"t","e","ts","s"]',
      '["1","t","e","ts","s",{}]',
      '[1.5,"t","e","ts","s",{}]',
      '[1,"t","e","ts","s",null]',
      '[1,"t",2,"ts","s",{}]',
    ]) {
      assert.equal(decodeRecord(text), null, text);
    }
  });
});
