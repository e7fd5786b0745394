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
  // JSON.stringify(JSON.parse(text)) reproduces text that JSON.stringify produced.
  return {
    seq,
    event: { topic, event_id: eventId, timestamp, source, payload: JSON.stringify(payload) },
  };
}
