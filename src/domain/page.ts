/**
 * A page of stored events encoded for the wire, built while the rows are read so that a
 * reader never holds more than about `maxBytes` of events: encoding stops before the row
 * that would take the page over the cap (a page always holds at least one row, so a reader
 * always makes progress, whatever the size of one event).
 *
 * Two encodings: `json`, the body of GET /events (a JSON array), and `sse`, the frames of
 * GET /subscribe (`id: <offset>` + `data: <event>` per event). Both splice the stored
 * payload text unparsed (storedEventJson).
 */
import { storedEventJson, type StoredEvent } from './event.js';

export type PageFormat = 'json' | 'sse';

export interface EncodedPage {
  /** UTF-8 bytes of the page in its format. */
  readonly body: Uint8Array;
  /** Events in the page. */
  readonly count: number;
  /** Offset of the last event in the page; null when empty. */
  readonly lastOffset: number | null;
  /** True when the page stopped at the byte cap before `limit` rows. */
  readonly truncated: boolean;
}

export interface PageBounds {
  readonly limit: number;
  readonly maxBytes: number;
  readonly format: PageFormat;
}

/**
 * Encodes rows from `rows` until `limit` rows or the byte cap; leaves the iterator early
 * (for..of calls its `return`, which ends an SQLite statement iteration) so no row past
 * the cap is read beyond the one that did not fit.
 */
export function encodePage(rows: Iterable<StoredEvent>, bounds: PageBounds): EncodedPage {
  // Each event becomes bytes at once, so the page is held once (plus its final copy), not
  // as strings, a joined string and bytes.
  const parts: Buffer[] = [];
  let chars = 2;
  let count = 0;
  let lastOffset: number | null = null;
  let truncated = false;
  for (const row of rows) {
    if (count >= bounds.limit) break;
    const json = storedEventJson(row);
    const part =
      bounds.format === 'sse' ? `id: ${row.offset}\nevent: event\ndata: ${json}\n\n` : json;
    // Characters, not bytes: a cheap bound (a UTF-8 byte count is at most 3x it and equal
    // to it for the ASCII that logs mostly are).
    if (count > 0 && chars + part.length + 1 > bounds.maxBytes) {
      truncated = true;
      break;
    }
    if (bounds.format === 'json') parts.push(Buffer.from(count === 0 ? '[' : ',', 'utf8'));
    parts.push(Buffer.from(part, 'utf8'));
    chars += part.length + 1;
    count++;
    lastOffset = row.offset;
  }
  if (bounds.format === 'json') parts.push(Buffer.from(count === 0 ? '[]' : ']', 'utf8'));
  return { body: Buffer.concat(parts), count, lastOffset, truncated };
}
