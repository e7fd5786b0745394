/**
 * A recording load generator for crash tests: concurrent publishers send batches of mixed
 * sizes with duplicates and record, per request, exactly which events it carried and whether
 * it got a 202. A request whose answer was lost (connection reset by a kill) is "unacked".
 */
import { makeEvent, prng, type TestEvent } from './events.js';

export interface SentRequest {
  readonly events: readonly TestEvent[];
  acked: boolean;
}

export interface LoadOptions {
  readonly seed: number;
  /** Prefix of generated event ids, unique per run. */
  readonly run: string;
  readonly batchSizes?: readonly number[];
  readonly duplicateShare?: number;
}

export class RecordingLoad {
  readonly requests: SentRequest[] = [];
  private readonly pool: TestEvent[] = [];
  private readonly rand: () => number;
  private counter = 0;

  constructor(private readonly opts: LoadOptions) {
    this.rand = prng(opts.seed);
  }

  /** A batch of a size drawn from `batchSizes`, a `duplicateShare` of it re-sent events. */
  nextBatch(size?: number): TestEvent[] {
    const sizes = this.opts.batchSizes ?? [1, 7, 50, 200, 500];
    const n = size ?? sizes[Math.floor(this.rand() * sizes.length)] ?? 1;
    const share = this.opts.duplicateShare ?? 0.25;
    const batch: TestEvent[] = [];
    for (let i = 0; i < n; i++) {
      if (this.pool.length > 0 && this.rand() < share) {
        batch.push(this.pool[Math.floor(this.rand() * this.pool.length)] as TestEvent);
        continue;
      }
      const id = this.counter++;
      const e = makeEvent({
        topic: ['login', 'order', 'app/prod/api'][id % 3] as string,
        event_id: `${this.opts.run}-${id}`,
        source: `svc-${id % 5}`,
        payload: { id, note: 'ü😀', nested: { list: [id, -0.5, 'x'] } },
      });
      this.pool.push(e);
      batch.push(e);
    }
    return batch;
  }

  /** POSTs one batch, recording it; resolves false when the connection failed. */
  async send(url: string, events: TestEvent[]): Promise<boolean> {
    const record: SentRequest = { events, acked: false };
    this.requests.push(record);
    try {
      const res = await fetch(`${url}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(events),
      });
      await res.arrayBuffer();
      record.acked = res.status === 202;
      return true;
    } catch {
      return false;
    }
  }

  /** One publisher: sends batches until `stop()` or a connection failure (bounded). */
  async publisher(url: string, stop: () => boolean, maxRequests = 5_000): Promise<void> {
    for (let i = 0; i < maxRequests && !stop(); i++) {
      if (!(await this.send(url, this.nextBatch()))) return;
    }
  }

  ackedRequests(): number {
    return this.requests.filter((r) => r.acked).length;
  }

  /** Events carried by acked requests, duplicates included. */
  ackedEvents(): TestEvent[] {
    return this.requests.filter((r) => r.acked).flatMap((r) => r.events);
  }

  /** Every event of every request, acked or not, duplicates included. */
  sentEvents(): TestEvent[] {
    return this.requests.flatMap((r) => r.events);
  }
}
