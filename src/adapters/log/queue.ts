/**
 * Embedded durable queue: an append-only, segmented log on local disk with group commit.
 *
 * Why a log and not a SQLite table: the queue's only durable job is "the 202 was sent, so the
 * bytes are on disk". Appending lines and fdatasync'ing them off the main thread costs one
 * write and one sync for every request that arrived while the previous sync ran (group
 * commit), and never blocks the event loop. Consumption state is NOT kept here: the store
 * records which sequence numbers it applied in the same transaction as the events
 * (Kafka-style consumer offsets), so a crash between commit and ack cannot double count.
 *
 * States: open -> draining (stopIntake: enqueue rejects, takers drain) -> closed.
 *         any -> failed (a write or sync failed: enqueue rejects; restart to recover).
 * In memory: `waiting` (durable, not leased), `leased` (handed to a worker), `unflushed`
 * (accepted for the current group commit, not yet durable, not yet counted in received).
 * received = durableNext - 1; depth = waiting + leased.
 */
import { mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { AcceptedEvent } from '../../domain/event.js';
import { AppError } from '../../domain/errors.js';
import type { Delivery, Lease, Queue, QueueStats } from '../../ports/queue.js';
import { encodeRecord } from './codec.js';
import { recoverSegments, segmentPath, syncDir, type Segment } from './segments.js';

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
}

interface Group {
  readonly deliveries: Delivery[];
  readonly resolve: (ids: string[]) => void;
  readonly reject: (err: unknown) => void;
}

interface LogLease extends Lease {
  readonly firstSeq: number;
}

type State = 'open' | 'draining' | 'closed' | 'failed';

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
  const handle = await open(active.path, 'a');
  await syncDir(opts.dir);
  const ready = recovered.pending.map((r) => ({ id: String(r.seq), event: r.event }));
  if (ready.length > 0) opts.log.info({ pending: ready.length }, 'queue recovered pending events');
  const queue = new LogQueue(opts, segments, handle, nextSeq, ready, segmentBytes);
  queue.collectGarbage();
  return queue;
}

export class LogQueue implements Queue {
  private state: State = 'open';
  private waiting: Delivery[];
  private waitingHead = 0;
  private readonly leases = new Set<LogLease>();
  private leasedCount = 0;
  private groups: Group[] = [];
  private unflushedLines: string[] = [];
  private unflushedCount = 0;
  private flushing: Promise<void> | null = null;
  private takers: ((lease: Lease | null) => void)[] = [];
  private takerMax: number[] = [];
  private gc: Promise<void> | null = null;

  constructor(
    private readonly opts: LogQueueOptions,
    private readonly segments: Segment[],
    private handle: FileHandle,
    /** Next seq to assign. */
    private nextSeq: number,
    ready: Delivery[],
    private readonly segmentBytes: number,
  ) {
    this.waiting = ready;
    this.durableNext = nextSeq;
  }

  /** Seq after the last durable record: received = durableNext - 1. */
  private durableNext: number;

  enqueue(events: readonly AcceptedEvent[]): Promise<string[]> {
    if (this.state !== 'open') {
      return Promise.reject(
        new AppError(
          'unavailable',
          this.state === 'failed' ? 'the queue log cannot be written' : 'shutting down',
          {
            retryAfter: 1,
          },
        ),
      );
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
    for (let i = 0; i < events.length; i++) {
      const seq = this.nextSeq++;
      const event = events[i] as AcceptedEvent;
      this.unflushedLines.push(encodeRecord(seq, event));
      deliveries[i] = { id: String(seq), event };
    }
    this.unflushedCount += events.length;
    return new Promise((resolve, reject) => {
      this.groups.push({ deliveries, resolve, reject });
      this.flushing ??= this.flushLoop();
    });
  }

  /** One write + one fdatasync for everything that arrived while the previous one ran. */
  private async flushLoop(): Promise<void> {
    while (this.groups.length > 0 && this.state !== 'failed') {
      const groups = this.groups;
      const data = Buffer.from(this.unflushedLines.join(''), 'utf8');
      this.groups = [];
      this.unflushedLines = [];
      try {
        await writeAll(this.handle, data);
        await this.handle.datasync();
      } catch (err) {
        this.fail(err, groups);
        break;
      }
      const active = this.segments.at(-1) as Segment;
      active.bytes += data.length;
      let count = 0;
      for (const group of groups) {
        for (const d of group.deliveries) this.waiting.push(d);
        count += group.deliveries.length;
      }
      this.unflushedCount -= count;
      this.durableNext += count;
      active.lastSeq = this.durableNext - 1;
      for (const group of groups) group.resolve(group.deliveries.map((d) => d.id));
      this.wakeTakers();
      if (active.bytes >= this.segmentBytes) {
        try {
          await this.rotate();
        } catch (err) {
          this.fail(err, []);
        }
      }
    }
    this.flushing = null;
    this.wakeTakers();
  }

  private fail(err: unknown, groups: Group[]): void {
    this.state = 'failed';
    this.opts.log.error({ err }, 'queue log write failed; intake stopped until restart');
    const error = new AppError('unavailable', 'the queue log cannot be written', {
      retryAfter: 5,
      cause: err,
    });
    for (const group of [...groups, ...this.groups]) group.reject(error);
    this.groups = [];
    this.unflushedLines = [];
    this.unflushedCount = 0;
  }

  private async rotate(): Promise<void> {
    const next: Segment = {
      path: segmentPath(this.opts.dir, this.durableNext),
      firstSeq: this.durableNext,
      lastSeq: this.durableNext - 1,
      bytes: 0,
    };
    const handle = await open(next.path, 'a');
    await syncDir(this.opts.dir);
    const old = this.handle;
    this.handle = handle;
    this.segments.push(next);
    await old.close();
    this.collectGarbage();
  }

  take(max: number, signal?: AbortSignal): Promise<Lease | null> {
    const lease = this.lease(max);
    if (lease !== null) return Promise.resolve(lease);
    if (this.drained() || signal?.aborted) return Promise.resolve(null);
    return new Promise((resolve) => {
      const taker = (l: Lease | null): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(l);
      };
      const onAbort = (): void => {
        const i = this.takers.indexOf(taker);
        if (i >= 0) {
          this.takers.splice(i, 1);
          this.takerMax.splice(i, 1);
        }
        resolve(null);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.takers.push(taker);
      this.takerMax.push(max);
    });
  }

  private lease(max: number): LogLease | null {
    const available = this.waiting.length - this.waitingHead;
    if (available === 0) return null;
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
    const lease: LogLease = { deliveries, firstSeq: Number((deliveries[0] as Delivery).id) };
    this.leases.add(lease);
    this.leasedCount += n;
    return lease;
  }

  private wakeTakers(): void {
    while (this.takers.length > 0) {
      const max = this.takerMax[0] as number;
      const lease = this.lease(max);
      if (lease === null && !this.drained()) return;
      this.takerMax.shift();
      (this.takers.shift() as (l: Lease | null) => void)(lease);
    }
  }

  /** Nothing left to hand out and nothing more will come. */
  private drained(): boolean {
    return (
      this.state !== 'open' &&
      this.waiting.length === this.waitingHead &&
      this.unflushedCount === 0 &&
      this.flushing === null
    );
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
      this.waiting = [...lease.deliveries, ...this.waiting.slice(this.waitingHead)];
      this.waitingHead = 0;
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

  ready(): Promise<boolean> {
    return Promise.resolve(this.state === 'open');
  }

  /** The lowest seq still needed: everything below it is applied. */
  private lowestNeeded(): number {
    let low = this.durableNext;
    if (this.waiting.length > this.waitingHead)
      low = Math.min(low, Number((this.waiting[this.waitingHead] as Delivery).id));
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
    await this.flushing;
    await this.gc;
    if (this.state !== 'failed') this.state = 'closed';
    for (const taker of this.takers) taker(null);
    this.takers = [];
    this.takerMax = [];
    await this.handle.close();
  }
}

async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset);
    offset += bytesWritten;
  }
}
