/**
 * One queued event per line: `[seq,topic,event_id,timestamp,source,payload]\n`, the payload
 * spliced in as the JSON text validation produced. Lines are grouped into checksummed frames
 * (frame.ts). Records are read back from BYTES: positions are byte offsets in the file, and
 * bytes that are not valid UTF-8 make a record unreadable instead of being replaced.
 */
import type { AcceptedEvent } from '../../domain/event.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export function encodeRecord(seq: number, e: AcceptedEvent): string {
  return (
    `[${seq},${JSON.stringify(e.topic)},${JSON.stringify(e.event_id)},` +
    `${JSON.stringify(e.timestamp)},${JSON.stringify(e.source)},${e.payload}]\n`
  );
}

export interface DecodedRecord {
  readonly seq: number;
  readonly event: AcceptedEvent;
}

/** Decodes one line without its newline; null when the line is not a valid record. */
export function decodeRecord(line: string): DecodedRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (!Array.isArray(value) || value.length !== 6) return null;
  const [seq, topic, eventId, timestamp, source, payload] = value as unknown[];
  if (
    typeof seq !== 'number' ||
    !Number.isSafeInteger(seq) ||
    typeof topic !== 'string' ||
    typeof eventId !== 'string' ||
    typeof timestamp !== 'string' ||
    typeof source !== 'string' ||
    payload === null ||
    typeof payload !== 'object'
  ) {
    return null;
  }
  // The payload is taken as the text between the header encodeRecord wrote and the closing
  // bracket, never serialised again: JSON.stringify recurses once per nesting level (JSON.parse
  // does not), so a payload validation accepted near the stack limit would throw RangeError
  // here, at start-up recovery, from a deeper stack. The header is rebuilt the way the encoder
  // wrote it (JSON.stringify of a parsed string reproduces it); a line that was not written by
  // encodeRecord does not match it and is not a record.
  const head =
    `[${seq},${JSON.stringify(topic)},${JSON.stringify(eventId)},` +
    `${JSON.stringify(timestamp)},${JSON.stringify(source)},`;
  if (!line.startsWith(head) || !line.endsWith(']')) return null;
  return {
    seq,
    event: { topic, event_id: eventId, timestamp, source, payload: line.slice(head.length, -1) },
  };
}

/**
 * Decodes the record line `bytes[start, end)` (without its newline); null when the bytes are
 * not strict UTF-8 or not a record.
 */
export function decodeRecordBytes(
  bytes: Uint8Array,
  start: number,
  end: number,
): DecodedRecord | null {
  let line: string;
  try {
    line = strictUtf8.decode(bytes.subarray(start, end));
  } catch {
    return null;
  }
  return decodeRecord(line);
}

/**
 * The sequence number at the start of the record line at `pos` (`[123,`), or -1. Enough to
 * index a checksummed frame without parsing every record at start-up.
 */
export function seqAt(bytes: Uint8Array, pos: number, end: number): number {
  if (bytes[pos] !== 0x5b) return -1;
  let seq = 0;
  let i = pos + 1;
  for (; i < end && i < pos + 18; i++) {
    const c = bytes[i] as number;
    if (c === 0x2c) break;
    if (c < 0x30 || c > 0x39) return -1;
    seq = seq * 10 + (c - 0x30);
  }
  return bytes[i] === 0x2c && i > pos + 1 && Number.isSafeInteger(seq) ? seq : -1;
}
