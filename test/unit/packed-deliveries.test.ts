/**
 * The store thread's batch packing (src/adapters/sqlite/protocol.ts): a batch survives
 * packing, a structured clone (what postMessage does) and unpacking field for field.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serialize } from 'node:v8';
import { packDeliveries, unpackDeliveries } from '../../src/adapters/sqlite/protocol.js';
import type { Delivery } from '../../src/ports/queue.js';

const deliveries: Delivery[] = [
  {
    id: '1',
    event: {
      topic: 'app/prod/api',
      event_id: 'e-1',
      timestamp: '2025-10-24T00:00:00.123456Z',
      source: 'svc-1',
      payload: '{"user":"u1","tags":["a","b"]}',
    },
  },
  {
    id: '2',
    event: {
      topic: 'ünïcødé ✓',
      event_id: 'line\nbreak "quoted"',
      timestamp: '2025-10-24T00:00:01.000Z',
      source: '',
      payload: '{"text":"\\u0000 and 😀"}',
    },
  },
];

void describe('packed deliveries', () => {
  void it('round-trips a batch through a structured clone, field for field and in order', () => {
    const packed = structuredClone(packDeliveries(deliveries));
    assert.deepEqual(unpackDeliveries(packed), deliveries);
  });

  void it('is a dense array, which a structured clone writes without an index per element', () => {
    // v8.serialize is the serializer postMessage uses: after its header (0xFF and the wire
    // format version, 15 on Node 20-24), 'A' (0x41) tags a dense array and 'a' (0x61) a
    // sparse one, which it writes as index/value pairs and rebuilds property by property
    // (about twice the CPU per batch, both threads). The first assertion pins the layout.
    const tag = (value: unknown): string => String.fromCharCode(serialize(value)[2] as number);
    assert.equal(tag(['x']), 'A');
    assert.equal(tag(packDeliveries(deliveries)), 'A');
  });

  void it('round-trips an empty batch', () => {
    assert.deepEqual(unpackDeliveries(packDeliveries([])), []);
  });

  void it('refuses an array that is not whole deliveries', () => {
    assert.throws(() => unpackDeliveries(packDeliveries(deliveries).slice(1)), TypeError);
  });
});
