/**
 * Fan-out of subscriber reads: subscribers at the same position (topic filter and cursor)
 * share one store read. When a batch is stored, Changes.wake() resumes every waiting
 * subscriber in the same tick; those that were caught up all ask for the page after the
 * same offset and get the same promise, so a thousand live subscribers of one topic cost
 * one store read per stored batch, and the page's bytes are shared by every socket that
 * writes them (a Buffer is queued by reference, not copied).
 *
 * A read is shared only while it is in flight; a subscriber that comes later reads anew
 * (its position may have moved on), so nothing is cached and nothing can go stale.
 */
import type { EncodedPage } from '../domain/page.js';
import type { EventReader } from '../ports/store.js';

export interface SharedPage {
  readonly body: Buffer;
  readonly count: number;
  readonly lastOffset: number | null;
  /** True when more rows were waiting beyond this page. */
  readonly more: boolean;
}

export class SharedReads {
  private readonly inflight = new Map<string, Promise<SharedPage>>();
  /** Store reads made (for tests and metrics). */
  reads = 0;

  constructor(
    private readonly reader: Pick<EventReader, 'page'>,
    private readonly pageRows: number,
    private readonly pageBytes: number,
  ) {}

  /** The SSE frames of the events after `after` (of `topic`, or of all topics). */
  next(topic: string | undefined, after: number): Promise<SharedPage> {
    // Topic names are never empty, so '' stands for "every topic".
    const key = `${after}\u0000${topic ?? ''}`;
    const running = this.inflight.get(key);
    if (running !== undefined) return running;
    this.reads++;
    const read = this.reader
      .page(
        { after, limit: this.pageRows, order: 'asc', ...(topic !== undefined ? { topic } : {}) },
        this.pageBytes,
        'sse',
      )
      .then((page: EncodedPage) => ({
        body: Buffer.from(page.body.buffer, page.body.byteOffset, page.body.byteLength),
        count: page.count,
        lastOffset: page.lastOffset,
        more: page.truncated || page.count >= this.pageRows,
      }))
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, read);
    return read;
  }
}
