/**
 * Shared by the embedded queue log's unit tests (test/unit/log-*.test.ts): a small event, one
 * frame as the writer writes it, and a drain that takes and acks everything queued.
 */
import { HEADER_BYTES, writeHeader } from '../../src/adapters/log/frame.js';
import type { LogQueue } from '../../src/adapters/log/queue.js';
import type { AcceptedEvent } from '../../src/domain/event.js';

/** Event `e<i>` on topic `t`, its payload padded with `pad` characters. */
export const logEvent = (i: number, pad = 40): AcceptedEvent => ({
  topic: 't',
  event_id: `e${i}`,
  timestamp: '2025-10-24T00:00:00.000Z',
  source: 's',
  payload: JSON.stringify({ i, pad: 'x'.repeat(pad) }),
});

/** One checksummed frame holding `lines`, as the writer writes it. */
export function frame(lines: string): Buffer {
  const body = Buffer.from(lines);
  const buf = Buffer.alloc(HEADER_BYTES + body.length);
  body.copy(buf, HEADER_BYTES);
  writeHeader(buf, body.length);
  return buf;
}

/** Takes and acks everything queued; returns the event ids in order. */
export async function drainIds(q: LogQueue): Promise<string[]> {
  const ids: string[] = [];
  while (q.statsNow().depth > 0) {
    const lease = await q.take(1000);
    if (lease === null) break;
    ids.push(...lease.deliveries.map((d) => d.event.event_id));
    await q.ack(lease);
  }
  return ids;
}
