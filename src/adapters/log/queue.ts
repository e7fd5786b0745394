/**
 * Embedded durable queue: an append-only, segmented log on local disk (writer.ts does the
 * group commit) plus the in-memory view the consumers take from.
 *
 * Why a log and not a SQLite table: the queue's only durable job is "the 202 was sent, so the
 * bytes are on disk". Appending lines and fdatasync'ing them off the main thread costs one
 * write and one sync for every request that arrived while the previous one ran, and never
 * blocks the event loop. Consumption state is NOT kept here: the store records which
 * sequence numbers it applied in the same transaction as the events (Kafka-style consumer
 * offsets), so a crash between commit and ack cannot double count; at start the log is
 * replayed from what the store has not applied.
 *
 * States: open -> draining (stopIntake: enqueue rejects, takers drain) -> closed;
 *         any -> failed (the writer failed: enqueue rejects; restart to recover).
 * In memory: `waiting` (durable, not leased), leases (handed to a worker), `unflushed`
 * (accepted, not yet durable, not counted in received).
 * received = durableNext - 1; depth = waiting + leased.
 */
import { mkdir, unlink, type FileHandle } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { AcceptedEvent } from '../../domain/event.js';
import { AppError } from '../../domain/errors.js';
import type { Delivery, Lease, Queue, QueueStats } from '../../ports/queue.js';
import { encodeRecord } from './codec.js';
import { recoverSegments, segmentPath, syncDir, type Segment } from './segments.js';
import { LogWriter, openSegment } from './writer.js';

export interface LogQueueOptions {
  readonly dir: string;
  readonly queueMax: number;
  readonly log: Logger;
  /** True for sequence numbers the store already applied (skipped at recovery). */
  readonly isApplied: (seq: number) => boolean;
  /** Sequence numbers below this were used before (guards against a deleted queue dir). */
  readonly minNextSeq?: number;
  /** Makes the store's applied-seq records durable before a segment is deleted. */
  readonly beforeSegmentDelete?: () => Promise<void> | void;
  readonly segmentBytes?: number;
  /** Seconds suggested to a publisher refused with queue_full. */
  readonly retryAfterS?: number;
  /**
   * How long a take waits for a fuller batch when fewer than `max` events are ready.
   * Per-transaction overhead dominates tiny batches, so a few milliseconds of patience
   * under a trickle of single-event requests multiply consumer throughput.
   */
  readonly lingerMs?: number;
}

interface LogLease extends Lease {
  readonly firstSeq: number;
}

type Taker = { readonly max: number; readonly resolve: (lease: Lease | null) => void };

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

export async function openLogQueue(opts: LogQueueOptions): Promise<LogQueue> {
  await mkdir(opts.dir, { recursive: true });
  const recovered = await recoverSegments(opts.dir, opts.isApplied, opts.log);
  const nextSeq = Math.max(recovered.nextSeq, opts.minNextSeq ?? 1);
  const segments = recovered.segments;
  const segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  let active = segments.at(-1);
  if (active === undefined || active.bytes >= segmentBytes || active.lastSeq + 1 !== nextSeq) {
    active = {
      path: segmentPath(opts.dir, nextSeq),
      firstSeq: nextSeq,
      lastSeq: nextSeq - 1,
      bytes: 0,
    };
    segments.push(active);
  }
  const handle = await openSegment(active.path);
  await syncDir(opts.dir);
  const ready = recovered.pending.map((r) => ({ id: String(r.seq), event: r.event }));
  if (ready.length > 0) opts.log.info({ pending: ready.length }, 'queue recovered pending events');
  return new LogQueue(opts, segments, handle, nextSeq, ready, segmentBytes);
}

export class LogQueue implements Queue {
  private state: 'open' | 'draining' | 'closed' = 'open';
  private readonly writer: LogWriter;
  private waiting: Delivery[];
  private waitingHead = 0;
  private readonly leases = new Set<LogLease>();
  private leasedCount = 0;
  private unflushedCount = 0;
  /** Seq after the last durable record. */
  private durableNext: number;
  private takers: Taker[] = [];
  /** When the oldest waiting delivery became ready (for the linger policy). */
  private readySince = 0;
  private lingerTimer: NodeJS.Timeout | null = null;
  private gc: Promise<void> | null = null;

  constructor(
    private readonly opts: LogQueueOptions,
    private readonly segments: Segment[],
    handle: FileHandle,
    /** Next seq to assign. */
    private nextSeq: number,
    ready: Delivery[],
    segmentBytes: number,
  ) {
    this.waiting = ready;
    this.durableNext = nextSeq;
    this.writer = new LogWriter(opts.dir, segments, handle, segmentBytes, () =>
      this.collectGarbage(),
    );
    this.collectGarbage();
  }

  enqueue(events: readonly AcceptedEvent[]): Promise<string[]> {
    if (this.writer.failed !== null) {
      return Promise.reject(
        new AppError('unavailable', 'the queue log cannot be written', {
          retryAfter: 5,
          cause: this.writer.failed,
        }),
      );
    }
    if (this.state !== 'open') {
      return Promise.reject(new AppError('unavailable', 'shutting down', { retryAfter: 1 }));
    }
    const depth = this.depthNow() + this.unflushedCount;
    if (depth + events.length > this.opts.queueMax) {
      return Promise.reject(
        new AppError(
          'queue_full',
          `the queue holds ${depth} of ${this.opts.queueMax} events; retry later`,
          {
            retryAfter: this.opts.retryAfterS ?? 1,
          },
        ),
      );
    }
    const deliveries: Delivery[] = new Array<Delivery>(events.length);
    let text = '';
    for (let i = 0; i < events.length; i++) {
      const seq = this.nextSeq++;
      const event = events[i] as AcceptedEvent;
      text += encodeRecord(seq, event);
      deliveries[i] = { id: String(seq), event };
    }
    this.unflushedCount += events.length;
    // The writer resolves appends in call order, so these continuations run in seq order.
    return this.writer.append(text, this.nextSeq - 1).then(
      () => {
        this.unflushedCount -= deliveries.length;
        this.durableNext += deliveries.length;
        if (this.waiting.length === this.waitingHead) this.readySince = performance.now();
        for (const d of deliveries) this.waiting.push(d);
        this.wakeTakers();
        return deliveries.map((d) => d.id);
      },
      (err: unknown) => {
        this.unflushedCount -= deliveries.length;
        this.opts.log.error({ err }, 'queue log write failed; intake stopped until restart');
        this.wakeTakers();
        throw new AppError('unavailable', 'the queue log cannot be written', {
          retryAfter: 5,
          cause: err,
        });
      },
    );
  }

  take(max: number, signal?: AbortSignal): Promise<Lease | null> {
    const lease = this.lease(max);
    if (lease !== null) return Promise.resolve(lease);
    if (this.drained() || signal?.aborted) return Promise.resolve(null);
    return new Promise((resolve) => {
      const taker: Taker = {
        max,
        resolve: (l) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(l);
        },
      };
      const onAbort = (): void => {
        this.takers = this.takers.filter((t) => t !== taker);
        resolve(null);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.takers.push(taker);
    });
  }

  private lease(max: number): LogLease | null {
    const available = this.waiting.length - this.waitingHead;
    if (available === 0) return null;
    if (available < max && this.state === 'open') {
      const wait = (this.opts.lingerMs ?? 0) - (performance.now() - this.readySince);
      if (wait > 0) {
        this.lingerTimer ??= setTimeout(() => {
          this.lingerTimer = null;
          this.wakeTakers();
        }, Math.ceil(wait));
        return null;
      }
    }
    const n = Math.min(max, available);
    const deliveries = this.waiting.slice(this.waitingHead, this.waitingHead + n);
    this.waitingHead += n;
    if (this.waitingHead === this.waiting.length) {
      this.waiting = [];
      this.waitingHead = 0;
    } else if (this.waitingHead > 65_536) {
      this.waiting = this.waiting.slice(this.waitingHead);
      this.waitingHead = 0;
    }
    // `waiting` is kept in sequence order, so the first delivery has the lowest seq.
    const lease: LogLease = { deliveries, firstSeq: Number((deliveries[0] as Delivery).id) };
    this.leases.add(lease);
    this.leasedCount += n;
    return lease;
  }

  private wakeTakers(): void {
    while (this.takers.length > 0) {
      const taker = this.takers[0] as Taker;
      const lease = this.lease(taker.max);
      if (lease === null && !this.drained()) return;
      this.takers.shift();
      taker.resolve(lease);
    }
  }

  /** Nothing left to hand out and nothing more will come. */
  private drained(): boolean {
    const stopped = this.state !== 'open' || this.writer.failed !== null;
    return stopped && this.waiting.length === this.waitingHead && this.unflushedCount === 0;
  }

  ack(lease: Lease): Promise<void> {
    if (this.leases.delete(lease as LogLease)) {
      this.leasedCount -= lease.deliveries.length;
      if (this.segments.length > 1) this.collectGarbage();
    }
    return Promise.resolve();
  }

  release(lease: Lease): Promise<void> {
    if (this.leases.delete(lease as LogLease)) {
      this.leasedCount -= lease.deliveries.length;
      // Merge back in sequence order: leases may be released in any order, and both the
      // replay order and the segment low-water mark rely on `waiting` being sorted.
      const rest = this.waiting.slice(this.waitingHead);
      const merged: Delivery[] = [];
      let i = 0;
      let j = 0;
      const back = lease.deliveries;
      while (i < back.length || j < rest.length) {
        const a = back[i];
        const b = rest[j];
        if (b === undefined || (a !== undefined && Number(a.id) < Number(b.id))) {
          merged.push(a as Delivery);
          i++;
        } else {
          merged.push(b);
          j++;
        }
      }
      this.waiting = merged;
      this.waitingHead = 0;
      this.readySince = 0;
      this.wakeTakers();
    }
    return Promise.resolve();
  }

  private depthNow(): number {
    return this.waiting.length - this.waitingHead + this.leasedCount;
  }

  stats(): Promise<QueueStats> {
    return Promise.resolve(this.statsNow());
  }

  /** Synchronous view, consistent with the store's counters in the same tick. */
  statsNow(): QueueStats {
    return { received: this.durableNext - 1, depth: this.depthNow() };
  }

  /** False once a log write has failed (only a restart recovers). */
  writable(): boolean {
    return this.writer.failed === null;
  }

  ready(): Promise<boolean> {
    return Promise.resolve(this.state === 'open' && this.writer.failed === null);
  }

  /** The lowest seq still needed: everything below it is applied. */
  private lowestNeeded(): number {
    let low = this.durableNext;
    const head = this.waiting[this.waitingHead];
    if (head !== undefined) low = Math.min(low, Number(head.id));
    for (const lease of this.leases) low = Math.min(low, lease.firstSeq);
    return low;
  }

  /** Deletes closed segments whose every record is applied. Runs one at a time. */
  collectGarbage(): void {
    if (this.gc !== null) return;
    const low = this.lowestNeeded();
    const doomed = this.segments.slice(0, -1).filter((s) => s.lastSeq < low);
    if (doomed.length === 0) return;
    this.gc = (async () => {
      try {
        await this.opts.beforeSegmentDelete?.();
        for (const segment of doomed) {
          await unlink(segment.path);
          this.segments.splice(this.segments.indexOf(segment), 1);
        }
        await syncDir(this.opts.dir);
      } catch (err) {
        this.opts.log.warn({ err }, 'queue segment cleanup failed; will retry');
      } finally {
        this.gc = null;
      }
    })();
  }

  stopIntake(): void {
    if (this.state === 'open') this.state = 'draining';
    this.wakeTakers();
  }

  async close(): Promise<void> {
    this.stopIntake();
    await this.writer.close();
    await this.gc;
    this.state = 'closed';
    if (this.lingerTimer !== null) clearTimeout(this.lingerTimer);
    for (const taker of this.takers) taker.resolve(null);
    this.takers = [];
  }
}
