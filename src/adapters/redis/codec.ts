/**
 * How an event is kept in a stream entry, and how Redis replies are read back.
 *
 * One field per entry, `e` = `["topic","event_id","timestamp","source"]` + "\n" + payload.
 * The header is JSON (which never contains a raw newline), and the payload is the exact JSON
 * text the publisher's event was serialised to, so it round-trips byte for byte and is never
 * parsed on the hot path.
 */
import type { AcceptedEvent } from '../../domain/event.js';
import type { Delivery } from '../../ports/queue.js';

export const EVENT_FIELD = 'e';

/** Joins the encoded events of one ENQUEUE; never part of an encoded event (see ENQUEUE). */
export const EVENT_SEPARATOR = '\u001e';

export function encodeEvent(e: AcceptedEvent): string {
  return `${JSON.stringify([e.topic, e.event_id, e.timestamp, e.source])}\n${e.payload}`;
}

export function decodeEvent(text: string): AcceptedEvent {
  const cut = text.indexOf('\n');
  if (cut < 0) throw new Error('stream entry without a payload');
  const header: unknown = JSON.parse(text.slice(0, cut));
  if (
    !Array.isArray(header) ||
    header.length !== 4 ||
    !header.every((h) => typeof h === 'string')
  ) {
    throw new Error('stream entry with a malformed header');
  }
  const [topic, event_id, timestamp, source] = header as [string, string, string, string];
  return { topic, event_id, timestamp, source, payload: text.slice(cut + 1) };
}

/**
 * Entries as XAUTOCLAIM returns them: `[[id, [field, value, ...]], ...]`.
 * An entry whose body is nil (deleted while pending; Redis 6.2 reports those) is skipped.
 */
export function parseEntries(reply: unknown): Delivery[] {
  if (!Array.isArray(reply)) return [];
  const out: Delivery[] = [];
  for (const entry of reply as unknown[]) {
    if (!Array.isArray(entry)) continue;
    const [id, fields] = entry as [unknown, unknown];
    if (typeof id !== 'string' || !Array.isArray(fields)) continue;
    const values = fields as unknown[];
    for (let i = 0; i + 1 < values.length; i += 2) {
      const value = values[i + 1];
      if (values[i] === EVENT_FIELD && typeof value === 'string') {
        out.push({ id, event: decodeEvent(value) });
        break;
      }
    }
  }
  return out;
}

export interface ReadBlob {
  readonly deliveries: Delivery[];
  /** The last entry read (deleted ones included), or null when none was. */
  readonly lastId: string | null;
  /** When none was read: the id to wait after for a newer entry. */
  readonly waitAfter: string;
}

/**
 * The READ script's reply (see scripts.ts): `id 0xFF value 0xFF` per entry, or '=' and the
 * id to wait after when there was none.
 */
export function parseReadBlob(reply: unknown): ReadBlob {
  const out: Delivery[] = [];
  if (!Buffer.isBuffer(reply) || reply.length === 0) {
    return { deliveries: out, lastId: null, waitAfter: '$' };
  }
  if (reply[0] === 0x3d) {
    return { deliveries: out, lastId: null, waitAfter: reply.toString('latin1', 1) };
  }
  let lastId: string | null = null;
  let at = 0;
  while (at < reply.length) {
    const idEnd = reply.indexOf(0xff, at);
    const valueEnd = idEnd < 0 ? -1 : reply.indexOf(0xff, idEnd + 1);
    if (valueEnd < 0) throw new Error('truncated reply from the READ script');
    const id = reply.toString('latin1', at, idEnd);
    lastId = id;
    // An empty value: the entry was deleted while pending; nothing to deliver.
    if (valueEnd > idEnd + 1) {
      out.push({ id, event: decodeEvent(reply.toString('utf8', idEnd + 1, valueEnd)) });
    }
    at = valueEnd + 1;
  }
  return { deliveries: out, lastId, waitAfter: lastId ?? '$' };
}

/** XAUTOCLAIM reply: `[nextCursor, entries, deletedIds]`. */
export function parseAutoClaim(reply: unknown): { cursor: string; deliveries: Delivery[] } {
  if (!Array.isArray(reply)) return { cursor: '0-0', deliveries: [] };
  const cursor: unknown = reply[0];
  return {
    cursor: typeof cursor === 'string' ? cursor : '0-0',
    deliveries: parseEntries(reply[1]),
  };
}

/** Compares two stream ids `ms-seq` numerically. */
export function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const ms = BigInt(am) - BigInt(bm);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as) - BigInt(bs);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}
