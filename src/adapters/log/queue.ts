/**
 * Embedded durable queue: an append-only, segmented log on local disk (writer.ts does the
 * group commit) plus the in-memory view the consumers take from.
 *
 * Why a log and not a SQLite table: the queue's only durable job is "the 202 was sent, so the
 * bytes are on disk". Appending frames and fdatasync'ing them off the main thread costs one
 * write and one sync for every request that arrived while the previous one ran, and never
 * blocks the event loop. Consumption state is NOT kept here: the store records which
 * sequence numbers it applied in the same transaction as the events (Kafka-style consumer
 * offsets), so a crash between commit and ack cannot double count; at start the log is
 * replayed from what the store has not applied.
 *
 * Memory is bounded by configuration, not by the backlog: every queued record is a slot
 * (its seq and position in the log); only the oldest, up to `hotBytes` of records, also
 * keep their decoded event. Colder ones are read back from the log when a consumer takes
 * them, and a lease holds at most LEASE_MAX_BYTES of them. Intake is bounded both in events
 * (`queueMax`) and in bytes on disk (`queueMaxBytes`), all-or-nothing per request.
 *
 * States: open -> draining (stopIntake: enqueue rejects, takers drain) -> closed;
 *         open -> blocked (the disk refused a write: enqueue answers 503 until the writer
 *         retries by itself, RETRY_MS later) -> open; any -> failed (a failed write could
 *         not be cut: enqueue rejects; restart to recover).
 * In memory: `waiting` (durable, not leased), leases (handed to a worker), `unflushed`
 * (accepted, not yet durable, not counted in received).
 * received = durableNext - 1 - lost; depth = waiting + leased.
 */
import { getHeapStatistics } from 'node:v8';
import { mkdir, readFile, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from 'pino';
import type { AcceptedEvent } from '../../domain/event.js';
import { AppError } from '../../domain/errors.js';
import { LogRate } from '../../log-rate.js';
import type { Delivery, Lease, Queue, QueueStats } from '../../ports/queue.js';
import { sequencePositions } from '../positions.js';
import { encodeRecord } from './codec.js';
import {
  QueueLogDamage,
  readSlots,
  recoverSegments,
  segmentPath,
  syncDir,
  type Segment,
  type Slot,
} from './segments.js';
import { LogWriteError, LogWriter, RETRY_MS, openSegment, type Placed } from './writer.js';

export interface LogQueueOptions {
  readonly dir: string;
  readonly queueMax: number;
  /** Bytes of queued records on disk before intake answers queue_full (default 1 GiB). */
  readonly queueMaxBytes?: number;
  /** Bytes of queued records kept decoded in memory (default: a share of the heap limit). */
  readonly hotBytes?: number;
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
   * How long at most a take waits for a fuller batch when fewer than `max` events are
   * ready, counted from when the oldest of them became ready (see pauseMs for the early
   * end). Per-transaction overhead dominates tiny batches, so a few milliseconds of
   * patience under a trickle of single-event requests multiply consumer throughput.
   */
  readonly lingerMs?: number;
  /**
   * A linger ends early once nothing new has become durable for this long: the stream has
   * paused, and a fuller batch would only delay what is queued. Default lingerMs / 10;
   * 0 turns the linger off.
   */
  readonly pauseMs?: number;
}

interface LogLease extends Lease {
  deliveries: readonly Delivery[];
  readonly slots: readonly Slot[];
  readonly firstSeq: number;
  readonly bytes: number;
  readonly hotBytes: number;
}

type Taker = {
  readonly max: number;
  readonly resolve: (lease: LogLease | null | Promise<LogLease>) => void;
};

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_QUEUE_MAX_BYTES = 1024 * 1024 * 1024;
/**
 * Decoded records kept in memory: 1/16 of the heap limit, at most 64 MiB. At the default heap
 * (~2-4 GiB) that is the cap, enough that a consumer keeping up never reads the log back;
 * under a small --max-old-space-size it shrinks with the heap instead of exhausting it.
 */
const HOT_CAP = 64 * 1024 * 1024;
/** Most record bytes in one lease: what one batch (and its message to the store) may hold. */
const LEASE_MAX_BYTES = 8 * 1024 * 1024;
/** The file where `logsieve recover` records sequence numbers it could not salvage. */
export const LOST_FILE = 'lost-seqs.json';

export async function openLogQueue(opts: LogQueueOptions): Promise<LogQueue> {
  await mkdir(opts.dir, { recursive: true });
  const hotBytes =
    opts.hotBytes ?? Math.min(HOT_CAP, Math.floor(getHeapStatistics().heap_size_limit / 16));
  const recovered = await recoverSegments(opts.dir, opts.isApplied, opts.log, hotBytes);
  const lost = await lostUnapplied(opts.dir, opts.isApplied);
  const nextSeq = Math.max(recovered.nextSeq, opts.minNextSeq ?? 1);
  const segments = recovered.segments;
  const segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  let active = segments.at(-1);
  if (
    active === undefined ||
    active.format !== 'framed' ||
    active.bytes >= segmentBytes ||
    active.lastSeq + 1 !== nextSeq
  ) {
    active = {
      path: segmentPath(opts.dir, nextSeq),
      firstSeq: nextSeq,
      format: 'framed',
      lastSeq: nextSeq - 1,
      bytes: 0,
    };
    segments.push(active);
  }
  const handle = await openSegment(active.path);
  await syncDir(opts.dir);
  const ready = recovered.pending;
  if (ready.length > 0) opts.log.info({ pending: ready.length }, 'queue recovered pending events');
  if (lost > 0) {
    opts.log.warn(
      { lost },
      'events lost to queue log damage (see logsieve recover) are not counted',
    );
  }
  return new LogQueue(opts, segments, handle, nextSeq, ready, segmentBytes, hotBytes, lost);
}

/** How many seqs `recover` recorded as unreadable that the store never applied. */
async function lostUnapplied(dir: string, isApplied: (seq: number) => boolean): Promise<number> {
  let text: string;
  try {
    text = await readFile(join(dir, LOST_FILE), 'utf8');
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return 0;
    throw err;
  }
  const ranges = (JSON.parse(text) as { ranges: [number, number][] }).ranges;
  let lost = 0;
  for (const [from, to] of ranges) for (let s = from; s <= to; s++) if (!isApplied(s)) lost++;
  return lost;
}

export class LogQueue implements Queue {
  /** Delivery ids are the records' sequence numbers, dense from 1. */
  readonly positions = sequencePositions;
  private state: 'open' | 'draining' | 'closed' = 'open';
  private readonly writer: LogWriter;
  private waiting: Slot[];
  private waitingHead = 0;
  private readonly leases = new Set<LogLease>();
  private leasedCount = 0;
  private unflushedCount = 0;
  /** Bytes on disk of every record accepted and not acked (unflushed included). */
  private queuedBytes = 0;
  /** Bytes of the records whose decoded event is held in memory. */
  private hotUsed = 0;
  /** Seq after the last durable record. */
  private durableNext: number;
  private takers: Taker[] = [];
  /** When the oldest waiting delivery became ready (for the linger policy). */
  private readySince = 0;
  /** When the newest waiting delivery became ready (a pause ends the linger). */
  private lastReady = 0;
  /** Seqs up to this one are handed out without lingering (`expedite`). */
  private urgentThrough = 0;
  private lingerTimer: NodeJS.Timeout | null = null;
  private gc: Promise<void> | null = null;
  private readonly maxBytes: number;
  /** Damage found when reading a record back (after start-up). */
  private damage: QueueLogDamage | null = null;
  private readonly writeErrors = new LogRate(10_000);
  private readonly gcErrors = new LogRate(10_000);

  constructor(
    private readonly opts: LogQueueOptions,
    private readonly segments: Segment[],
    handle: FileHandle,
    /** Next seq to assign. */
    private nextSeq: number,
    ready: Slot[],
    segmentBytes: number,
    private readonly hotBytes: number,
    /** Acknowledged seqs lost to damage (recover): not received, never to be applied. */
    private readonly lost: number,
  ) {
    this.waiting = ready;
    for (const s of ready) {
      this.queuedBytes += s.len;
      if (s.delivery !== null) this.hotUsed += s.len;
    }
    this.durableNext = nextSeq;
    this.maxBytes = opts.queueMaxBytes ?? DEFAULT_QUEUE_MAX_BYTES;
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
          { retryAfter: this.opts.retryAfterS ?? 1 },
        ),
      );
    }
    const n = events.length;
    const lens = new Array<number>(n);
    let text = '';
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const record = encodeRecord(this.nextSeq + i, events[i] as AcceptedEvent);
      const len = Buffer.byteLength(record);
      text += record;
      lens[i] = len;
      bytes += len;
    }
    // An empty queue takes any one request, so a request above the byte bound is not
    // refused forever; otherwise the bound holds, all-or-nothing.
    if (this.queuedBytes > 0 && this.queuedBytes + bytes > this.maxBytes) {
      return Promise.reject(
        new AppError(
          'queue_full',
          `the queue holds ${this.queuedBytes} of ${this.maxBytes} bytes; retry later`,
          { retryAfter: this.opts.retryAfterS ?? 1 },
        ),
      );
    }
    const firstSeq = this.nextSeq;
    this.nextSeq += n;
    this.unflushedCount += n;
    this.queuedBytes += bytes;
    // The writer resolves appends in call order, so these continuations run in seq order.
    return this.writer.append(text, bytes, this.nextSeq - 1).then(
      (placed) => this.arrived(events, lens, bytes, firstSeq, placed),
      (err: unknown) => {
        this.unflushedCount -= n;
        this.queuedBytes -= bytes;
        // The writer refuses every append it has not acknowledged and cuts their bytes, so
        // once none is left in flight their seqs were never on disk: reuse them, or a
        // restart would count the gap (received is derived from the last seq).
        if (this.unflushedCount === 0) this.nextSeq = this.durableNext;
        this.wakeTakers();
        throw this.refusal(err);
      },
    );
  }

  private arrived(
    events: readonly AcceptedEvent[],
    lens: readonly number[],
    bytes: number,
    firstSeq: number,
    placed: Placed,
  ): string[] {
    const n = events.length;
    this.unflushedCount -= n;
    this.durableNext += n;
    this.lastReady = performance.now();
    if (this.waiting.length === this.waitingHead) this.readySince = this.lastReady;
    const hot = this.hotUsed + bytes <= this.hotBytes;
    if (hot) this.hotUsed += bytes;
    const ids = new Array<string>(n);
    let pos = placed.pos;
    for (let i = 0; i < n; i++) {
      const seq = firstSeq + i;
      const id = String(seq);
      const len = lens[i] as number;
      ids[i] = id;
      const event = events[i] as AcceptedEvent;
      this.waiting.push({
        seq,
        segment: placed.segment,
        pos,
        len,
        delivery: hot ? { id, event } : null,
        // Only for records kept as positions (a consumer lagging by more than the hot
        // budget), so the common path pays nothing; encodeRecord is deterministic.
        crc: hot ? 0 : crc32(encodeRecord(seq, event)),
      });
      pos += len;
    }
    this.wakeTakers();
    return ids;
  }

  /** What a refused append is answered with; logged at a bounded rate. */
  private refusal(err: unknown): AppError {
    const e = err instanceof LogWriteError ? err : null;
    const held = this.writeErrors.admit();
    if (held >= 0) {
      this.opts.log.error(
        { code: e?.code, message: (err as Error).message, refusedSinceLastLog: held },
        e?.cut === false
          ? 'queue log write failed and could not be undone; intake stopped until restart'
          : 'queue log write failed; refusing requests and retrying the disk',
      );
    }
    const retryAfter = Math.ceil(RETRY_MS / 1000) + 1;
    if (e?.cut === true && (e.code === 'ENOSPC' || e.code === 'EDQUOT')) {
      // Nothing of the request is on disk: like backpressure, it was simply not accepted.
      return new AppError('queue_full', 'the disk holding the queue log is full; retry later', {
        retryAfter,
        cause: err,
      });
    }
    return new AppError('unavailable', 'the queue log cannot be written', {
      retryAfter,
      cause: err,
    });
  }

  take(max: number, signal?: AbortSignal): Promise<Lease | null> {
    const lease = this.lease(max);
    if (lease !== null) return Promise.resolve(this.materialize(lease));
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
    const head = this.waiting[this.waitingHead] as Slot;
    if (available < max && this.state === 'open' && head.seq > this.urgentThrough) {
      // Lingers while both hold: the oldest has waited less than lingerMs, and something
      // new arrived within pauseMs. Under a steady stream the batch fills for the whole
      // linger; when the stream stops, its tail goes out a pause later, not a linger later.
      const now = performance.now();
      const lingerMs = this.opts.lingerMs ?? 0;
      const pauseMs = this.opts.pauseMs ?? lingerMs / 10;
      const wait = Math.min(lingerMs - (now - this.readySince), pauseMs - (now - this.lastReady));
      if (wait > 0) {
        this.lingerTimer ??= setTimeout(() => {
          this.lingerTimer = null;
          this.wakeTakers();
        }, Math.ceil(wait));
        return null;
      }
    }
    const limit = Math.min(max, available);
    const slots: Slot[] = [];
    let bytes = 0;
    let hotBytes = 0;
    for (let i = 0; i < limit; i++) {
      const slot = this.waiting[this.waitingHead + i] as Slot;
      if (i > 0 && bytes + slot.len > LEASE_MAX_BYTES) break;
      slots.push(slot);
      bytes += slot.len;
      if (slot.delivery !== null) hotBytes += slot.len;
    }
    this.waitingHead += slots.length;
    if (this.waitingHead === this.waiting.length) {
      this.waiting = [];
      this.waitingHead = 0;
    } else if (this.waitingHead > 65_536) {
      this.waiting = this.waiting.slice(this.waitingHead);
      this.waitingHead = 0;
    }
    const cold = hotBytes < bytes;
    // `waiting` is kept in sequence order, so the first slot has the lowest seq.
    const lease: LogLease = {
      deliveries: cold ? [] : slots.map((s) => s.delivery as Delivery),
      slots,
      firstSeq: (slots[0] as Slot).seq,
      bytes,
      hotBytes,
    };
    this.leases.add(lease);
    this.leasedCount += slots.length;
    return lease;
  }

  /** Reads a lease's cold records from the log; on failure gives the lease back. */
  private materialize(lease: LogLease): LogLease | Promise<LogLease> {
    if (lease.hotBytes === lease.bytes) return lease;
    return readSlots(lease.slots).then(
      (deliveries) => {
        lease.deliveries = deliveries;
        return lease;
      },
      async (err: unknown) => {
        await this.release(lease);
        if (err instanceof QueueLogDamage && this.damage === null) {
          // Nothing altered is ever served: the records stay queued, and /healthz fails so
          // that a restart runs the start-up check, which names the damage (then: recover).
          this.damage = err;
          this.opts.log.fatal({ path: err.path, at: err.position }, err.message);
        }
        throw err;
      },
    );
  }

  private wakeTakers(): void {
    while (this.takers.length > 0) {
      const taker = this.takers[0] as Taker;
      const lease = this.lease(taker.max);
      if (lease === null && !this.drained()) return;
      this.takers.shift();
      taker.resolve(lease === null ? null : this.materialize(lease));
    }
  }

  /** Everything durable so far goes out without lingering: a caller waits for it to apply. */
  expedite(): void {
    this.urgentThrough = this.durableNext - 1;
    this.wakeTakers();
  }

  /** Nothing left to hand out and nothing more will come. */
  private drained(): boolean {
    const stopped = this.state !== 'open' || this.writer.failed !== null;
    return stopped && this.waiting.length === this.waitingHead && this.unflushedCount === 0;
  }

  ack(lease: Lease): Promise<void> {
    this.settle(lease as LogLease);
    return Promise.resolve();
  }

  /**
   * Acks the lease that handed out exactly this array of deliveries (the one a consumer
   * passes to the store), synchronously; a later `ack` of that lease is then a no-op. Does
   * nothing for an array no open lease handed out. The embedded composition calls it in the
   * step that counts the batch in the store, so depth and counters change together.
   */
  ackApplied(deliveries: readonly Delivery[]): void {
    // At most WORKERS leases are open, so the scan is a few comparisons.
    for (const lease of this.leases) {
      if (lease.deliveries === deliveries) {
        this.settle(lease);
        return;
      }
    }
  }

  private settle(own: LogLease): void {
    if (this.leases.delete(own)) {
      this.leasedCount -= own.slots.length;
      this.queuedBytes -= own.bytes;
      this.hotUsed -= own.hotBytes;
      if (this.segments.length > 1) this.collectGarbage();
    }
  }

  release(lease: Lease): Promise<void> {
    const own = lease as LogLease;
    if (this.leases.delete(own)) {
      this.leasedCount -= own.slots.length;
      // Merge back in sequence order: leases may be released in any order, and both the
      // replay order and the segment low-water mark rely on `waiting` being sorted.
      const rest = this.waiting.slice(this.waitingHead);
      const back = own.slots;
      const merged: Slot[] = [];
      let i = 0;
      let j = 0;
      while (i < back.length || j < rest.length) {
        const a = back[i];
        const b = rest[j];
        if (b === undefined || (a !== undefined && a.seq < b.seq)) {
          merged.push(a as Slot);
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
    return { received: this.durableNext - 1 - this.lost, depth: this.depthNow() };
  }

  /** Bytes of queued records on disk (waiting, leased and not yet durable). */
  bytesNow(): number {
    return this.queuedBytes;
  }

  /**
   * False once a log write failed and could not be undone, or a record read back from the
   * log turned out damaged: only a restart (and, for damage, `logsieve recover`) recovers.
   */
  writable(): boolean {
    return this.writer.failed === null && this.damage === null;
  }

  ready(): Promise<boolean> {
    return Promise.resolve(this.state === 'open' && this.writable() && !this.writer.blocked);
  }

  /** The lowest seq still needed: everything below it is applied. */
  private lowestNeeded(): number {
    let low = this.durableNext;
    const head = this.waiting[this.waitingHead];
    if (head !== undefined) low = Math.min(low, head.seq);
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
        const held = this.gcErrors.admit();
        if (held >= 0) {
          this.opts.log.warn(
            { code: (err as { code?: string }).code, message: (err as Error).message, held },
            'queue segment cleanup failed; will retry',
          );
        }
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
