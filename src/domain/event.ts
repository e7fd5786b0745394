/**
 * The event model.
 *
 * Glossary
 * - EventInput: what a publisher sends, before validation.
 * - AcceptedEvent: a validated event as it travels through the queue: timestamp normalised to
 *   UTC and payload already serialised, so the hot path never re-serialises it.
 * - StoredEvent: an AcceptedEvent the store kept, with its `offset` (commit order) and
 *   `processed_at`.
 * - Dedup key: `(topic, event_id)`. The same event_id in two topics is two events.
 */

export interface EventInput {
  readonly topic: string;
  readonly event_id: string;
  readonly timestamp: string;
  readonly source: string;
  readonly payload: Readonly<Record<string, unknown>>;
}

export interface AcceptedEvent {
  readonly topic: string;
  readonly event_id: string;
  /** RFC 3339 in UTC (`Z`), at least millisecond precision, finer precision kept. */
  readonly timestamp: string;
  readonly source: string;
  /** The payload object serialised as JSON text. */
  readonly payload: string;
}

export interface StoredEvent extends AcceptedEvent {
  readonly offset: number;
  readonly processed_at: string;
}

/** A stable string form of the dedup key, for maps and logs. */
export function dedupKey(topic: string, eventId: string): string {
  return `${topic.length}:${topic}${eventId}`;
}

/**
 * JSON text of a stored event. The payload is spliced in as the exact text we stored, so it
 * round-trips byte for byte and is never parsed on the read path.
 */
export function storedEventJson(e: StoredEvent): string {
  return (
    `{"offset":${e.offset},"topic":${JSON.stringify(e.topic)},` +
    `"event_id":${JSON.stringify(e.event_id)},"timestamp":${JSON.stringify(e.timestamp)},` +
    `"source":${JSON.stringify(e.source)},"payload":${e.payload},` +
    `"processed_at":${JSON.stringify(e.processed_at)}}`
  );
}
