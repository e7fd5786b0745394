/**
 * One queued event per line: `[seq,topic,event_id,timestamp,source,payload]\n`, the payload
 * spliced in as the JSON text validation produced. A line is complete only with its newline,
 * so a write torn by a crash is recognisable at the tail of the log.
 */
import type { AcceptedEvent } from '../../domain/event.js';

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
