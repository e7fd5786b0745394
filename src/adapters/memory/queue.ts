/**
 * In-memory queue: the Queue port with nothing behind it but this process's memory. It is a
 * test fixture and the smallest example of a queue adapter (README "Adding a backend"), not
 * a deployment option: "durable when enqueue resolves" holds only for the life of the
 * process, so a crash loses every queued event, and it must not be paired with a store that
 * outlives the process unless `firstSeq` starts past every id that store has applied.
 *
 * States: open -> draining (stopIntake: enqueue rejects 'unavailable'; takers drain what is
 *         waiting, then take resolves null) -> closed (every pending take resolves null).
 * A delivery is waiting (kept in enqueue order) -> leased (by one take) -> gone (ack), or
 * back to waiting in its enqueue order (release).
 * received = deliveries ever enqueued; depth = waiting + leased, both changed in the same
 * synchronous step as the delivery they count.
 *
 * Delivery ids are decimal sequence numbers from `firstSeq` (`sequencePositions`, the
 * encoding the SQLite store persists); nothing here parses them back: the order is kept
 * beside each delivery.
 */
import type { AcceptedEvent } from '../../domain/event.js';
import { AppError } from '../../domain/errors.js';
import type { Delivery, Lease, Queue, QueueStats } from '../../ports/queue.js';
import { sequencePositions } from '../positions.js';

export interface MemoryQueueOptions {
  /** Most deliveries waiting or leased; enqueue beyond it rejects with queue_full. */
  readonly queueMax: number;
  /** The first delivery's sequence number (default 1). */
  readonly firstSeq?: number;
  /** Seconds suggested to a publisher refused with queue_full. */
  readonly retryAfterS?: number;
}

interface Entry {
  readonly order: number;
  readonly delivery: Delivery;
}

interface Taker {
  readonly max: number;
  readonly resolve: (lease: Lease | null) => void;
}

export function openMemoryQueue(opts: MemoryQueueOptions): MemoryQueue {
  return new MemoryQueue(opts);
}

export class MemoryQueue implements Queue {
  readonly positions = sequencePositions;
  private state: 'open' | 'draining' | 'closed' = 'open';
  private nextSeq: number;
  private received = 0;
  /** Waiting entries in enqueue order. */
  private waiting: Entry[] = [];
  /** Leased entries by delivery id. */
  private readonly leased = new Map<string, Entry>();
  private takers: Taker[] = [];

  constructor(private readonly opts: MemoryQueueOptions) {
    this.nextSeq = opts.firstSeq ?? 1;
  }

  enqueue(events: readonly AcceptedEvent[]): Promise<string[]> {
    if (this.state !== 'open') {
      return Promise.reject(new AppError('unavailable', 'shutting down', { retryAfter: 1 }));
    }
    const depth = this.depth();
    if (depth + events.length > this.opts.queueMax) {
      return Promise.reject(
        new AppError(
          'queue_full',
          `the queue holds ${depth} of ${this.opts.queueMax} events; retry later`,
          { retryAfter: this.opts.retryAfterS ?? 1 },
        ),
      );
    }
    const ids: string[] = new Array<string>(events.length);
    for (let i = 0; i < events.length; i++) {
      const order = this.nextSeq++;
      const id = String(order);
      ids[i] = id;
      this.waiting.push({ order, delivery: { id, event: events[i] as AcceptedEvent } });
    }
    this.received += events.length;
    this.wakeTakers();
    return Promise.resolve(ids);
  }

  take(max: number, signal?: AbortSignal): Promise<Lease | null> {
    const lease = this.lease(max);
    if (lease !== null) return Promise.resolve(lease);
    if (this.state !== 'open' || signal?.aborted === true) return Promise.resolve(null);
    return new Promise((resolve) => {
      const onAbort = (): void => {
        this.takers = this.takers.filter((t) => t !== taker);
        resolve(null);
      };
      const taker: Taker = {
        max,
        resolve: (l) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(l);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.takers.push(taker);
    });
  }

  private lease(max: number): Lease | null {
    if (this.waiting.length === 0) return null;
    const entries = this.waiting.splice(0, Math.max(1, max));
    for (const e of entries) this.leased.set(e.delivery.id, e);
    return { deliveries: entries.map((e) => e.delivery) };
  }

  private wakeTakers(): void {
    while (this.takers.length > 0) {
      const taker = this.takers[0] as Taker;
      const lease = this.lease(taker.max);
      // Nothing waiting: a taker waits on, unless nothing more can come.
      if (lease === null && this.state === 'open') return;
      this.takers.shift();
      taker.resolve(lease);
    }
  }

  /** Acks by delivery id, so acking twice (or a lease rebuilt from its deliveries) is a no-op. */
  ack(lease: Lease): Promise<void> {
    this.ackApplied(lease.deliveries);
    return Promise.resolve();
  }

  /** `ack` in the caller's synchronous step (a composition counting the batch in its store). */
  ackApplied(deliveries: readonly Delivery[]): void {
    for (const d of deliveries) this.leased.delete(d.id);
  }

  release(lease: Lease): Promise<void> {
    const back: Entry[] = [];
    for (const d of lease.deliveries) {
      const entry = this.leased.get(d.id);
      if (entry === undefined) continue;
      this.leased.delete(d.id);
      back.push(entry);
    }
    if (back.length > 0) {
      // Back in enqueue order, ahead of what came later.
      this.waiting = [...back, ...this.waiting].sort((a, b) => a.order - b.order);
      this.wakeTakers();
    }
    return Promise.resolve();
  }

  private depth(): number {
    return this.waiting.length + this.leased.size;
  }

  stats(): Promise<QueueStats> {
    return Promise.resolve(this.statsNow());
  }

  statsNow(): QueueStats {
    return { received: this.received, depth: this.depth() };
  }

  ready(): Promise<boolean> {
    return Promise.resolve(this.state === 'open');
  }

  stopIntake(): void {
    if (this.state === 'open') this.state = 'draining';
    this.wakeTakers();
  }

  close(): Promise<void> {
    this.stopIntake();
    this.state = 'closed';
    for (const taker of this.takers) taker.resolve(null);
    this.takers = [];
    return Promise.resolve();
  }
}
