/**
 * Group-commit writer of the queue log: appends records to the active segment, one
 * checksummed frame per write (frame.ts), and resolves each `append` only when its bytes,
 * and every byte before them, are durable.
 *
 * - Group commit: everything that arrives while writes are in flight joins the next write,
 *   so durability costs one write per group of concurrent requests, not one per request.
 * - O_DSYNC: a write returns only when its data and the file size are on stable storage
 *   (fdatasync's guarantee in one system call instead of two). Where O_DSYNC does not exist,
 *   writes run one at a time, each followed by fdatasync.
 * - One write per I/O phase: appends smaller than PHASE_GROUP_BYTES wait for the end of
 *   the event-loop phase that made them (setImmediate), so every request read in one phase
 *   shares one write and one thread-pool hop; a group of that size or more starts at once.
 * - Pipelining: up to MAX_IN_FLIGHT writes run at once, each at its own reserved position,
 *   so a request arriving mid-write need not wait for the rest of the current one before its
 *   own starts. Two measured best under W2: every write is a thread-pool hop costing the
 *   main thread 20-40 µs here, so more writes in flight means smaller groups and more hops.
 *   Acknowledgements are released strictly in file order. A crash can therefore leave a
 *   hole (NUL bytes) where an earlier write had not landed before a later one did; neither
 *   was acknowledged, and recovery (scan.ts) cuts the file there.
 *
 * States: open -> cutting (a write failed, e.g. ENOSPC: wait for the writes in flight, cut
 * the file back to the last acknowledged byte and fdatasync it, reject every append not yet
 * acknowledged) -> blocked (appends reject at once for RETRY_MS) -> open again, by itself.
 * cutting -> failed when the cut itself fails: the outcome of the refused writes is then
 * unknown, every later append rejects, and only a restart (which cuts the torn tail)
 * recovers. open|blocked -> closed.
 * A segment that reaches `segmentBytes` is rotated once its writes have landed; a rotation
 * that cannot create the next file blocks the same way.
 *
 * Runway: the writer keeps up to RUNWAY_BYTES just past the end of the active segment
 * zero-filled and durable, one background write at a time, so a small append overwrites
 * allocated blocks instead of growing the file. An O_DSYNC write that grows a file on ext4
 * must also commit the new size and block map to the journal; one inside the file does not.
 * Measured here (2 KB O_DSYNC writes, 2,000 in a row, machine loaded): p50 130-420 µs inside
 * a zero-filled file against 270-2,300 µs appending; 134 against 196-202 µs on a quiet host. No data write ever overlaps the zero
 * write in flight (it waits for it). The zeros are never part of the log: a clean close,
 * a rotation (before the next segment exists) and a cut all truncate the file to its last
 * acknowledged byte, and recovery (segments.ts) ignores NUL bytes at the end of the newest
 * segment, where a crash leaves them. A zero write that fails (a full disk) just stops the
 * runway until RETRY_MS later; appends then grow the file and meet the disk's refusal as
 * before, after at most the runway's bytes.
 */
import { constants, fdatasync, ftruncate, write } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { HEADER_BYTES, writeHeader } from './frame.js';
import { segmentPath, syncDir, type Segment } from './segments.js';

const O_DSYNC: number | undefined = (constants as { O_DSYNC?: number }).O_DSYNC;
const MAX_IN_FLIGHT = O_DSYNC === undefined ? 1 : 2;
/** After a failed write, how long appends are refused before the disk is tried again. */
export const RETRY_MS = 1_000;
/**
 * Zero-filled bytes kept ahead of the active segment's end, refilled once less than half
 * is left: under W2 (~4 KB per group commit) one zero write per ~8 data writes. Small, so a
 * full disk is still met after at most 64 KiB of appends (test/process/full-disk).
 */
const RUNWAY_BYTES = 64 * 1024;
const ZEROS = Buffer.alloc(RUNWAY_BYTES);
/**
 * Appends smaller than this wait for the end of their I/O phase (see the header). Under W2
 * (single events, 16 connections) a write then carries 4-6 requests instead of ~4, and with
 * the runway W2 ran 19-23 % faster at 20-27 % less CPU per request (BENCHMARKS.md, "W2,
 * session 9"). A group this large (W1's ~65 KB requests) starts at once, as before; W1 was
 * measured unchanged so.
 */
const PHASE_GROUP_BYTES = 16 * 1024;

/** Opens a segment for durable positional writes (creating it if needed). */
export function openSegment(path: string): Promise<FileHandle> {
  if (O_DSYNC === undefined) return open(path, constants.O_WRONLY | constants.O_CREAT, 0o644);
  return open(path, constants.O_WRONLY | constants.O_CREAT | O_DSYNC, 0o644);
}

/**
 * An append the writer refused. `cut`: nothing of it is on disk (the write never started,
 * or its partial bytes were cut and the cut is durable), so it may be answered as "not
 * accepted". `code` is the system error code (ENOSPC for a full disk).
 */
export class LogWriteError extends Error {
  constructor(
    message: string,
    readonly cut: boolean,
    readonly code: string | undefined,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
    this.name = 'LogWriteError';
  }
}

/** Where an append's first byte landed. */
export interface Placed {
  readonly segment: Segment;
  readonly pos: number;
}

interface Waiter {
  /** Byte offset of this append inside the frame body. */
  readonly offset: number;
  readonly resolve: (placed: Placed) => void;
  readonly reject: (err: Error) => void;
}

interface Write {
  readonly waiters: Waiter[];
  readonly bytes: number;
  readonly lastSeq: number;
  done: boolean;
  error: Error | null;
}

const codeOf = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

export class LogWriter {
  private parts: string[] = [];
  private partBytes = 0;
  private waiters: Waiter[] = [];
  private lastSeq = 0;
  /** Writes started and not yet acknowledged, in file order. */
  private readonly inFlight: Write[] = [];
  /** Next free byte of the active segment (written or reserved). */
  private reserved: number;
  private rotating = false;
  private cutting = false;
  /** performance.now() before which appends are refused (after a failed write). */
  private blockedUntil = 0;
  private lastFailure: LogWriteError | null = null;
  private error: LogWriteError | null = null;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  /** A pump is due at the end of this I/O phase (see append). */
  private pumpScheduled = false;
  /** End of the zero-filled, durable bytes of the active segment (its file size). */
  private filled: number;
  /** Start of the zero write in flight, or -1. */
  private zeroingFrom = -1;
  /** performance.now() before which no zero write starts (after one failed). */
  private runwayRetryAt = 0;
  /** Bytes of the last data write started. */
  private lastWriteBytes = 0;

  constructor(
    private readonly dir: string,
    /** All segments, oldest first; the last one is written to. Shared with the queue. */
    private readonly segments: Segment[],
    private handle: FileHandle,
    private readonly segmentBytes: number,
    private readonly onRotate: () => void,
  ) {
    this.reserved = (segments.at(-1) as Segment).bytes;
    // Recovery cut the file to its records, or created it empty.
    this.filled = this.reserved;
    this.extendRunway();
  }

  /** Set once a cut failed: only a restart recovers. */
  get failed(): Error | null {
    return this.error;
  }

  /** True while appends are refused after a failed write (a full disk, say). */
  get blocked(): boolean {
    return this.cutting || performance.now() < this.blockedUntil;
  }

  /**
   * `text` holds whole records, `bytes` long in UTF-8, the last with sequence number
   * `lastSeq`. Resolves with where its first byte is, once durable.
   */
  append(text: string, bytes: number, lastSeq: number): Promise<Placed> {
    if (this.error !== null) return Promise.reject(this.error);
    if (this.closed)
      return Promise.reject(new LogWriteError('the queue log is closed', true, undefined));
    if (this.cutting) {
      return Promise.reject(
        new LogWriteError('the queue log is cutting back a failed write', true, undefined),
      );
    }
    if (this.lastFailure !== null && performance.now() < this.blockedUntil) {
      return Promise.reject(this.lastFailure);
    }
    return new Promise((resolve, reject) => {
      this.waiters.push({ offset: this.partBytes, resolve, reject });
      this.parts.push(text);
      this.partBytes += bytes;
      this.lastSeq = lastSeq;
      // A large group starts at once; a small one waits for the end of this I/O phase, so
      // every request read in it joins one write (PHASE_GROUP_BYTES).
      if (this.partBytes >= PHASE_GROUP_BYTES) this.pump();
      else if (!this.pumpScheduled) {
        this.pumpScheduled = true;
        setImmediate(this.scheduledPump);
      }
    });
  }

  private readonly scheduledPump = (): void => {
    this.pumpScheduled = false;
    this.pump();
  };

  private pump(): void {
    while (this.waiters.length > 0 && this.error === null && !this.rotating && !this.cutting) {
      if (this.reserved >= this.segmentBytes) {
        if (this.inFlight.length === 0 && this.zeroingFrom < 0) void this.rotate();
        return;
      }
      if (this.inFlight.length >= MAX_IN_FLIGHT) return;
      // Never beside the zero write in flight on the same bytes: it resumes the pump.
      if (
        this.zeroingFrom >= 0 &&
        this.reserved + HEADER_BYTES + this.partBytes > this.zeroingFrom
      ) {
        return;
      }
      // One allocation and one copy, as before framing: the header is written in front.
      const data = Buffer.allocUnsafe(HEADER_BYTES + this.partBytes);
      const written = data.write(this.parts.join(''), HEADER_BYTES, 'utf8');
      if (written !== this.partBytes) {
        // A caller's byte count was wrong; writing would misplace every later record.
        this.fail(new Error(`queue log append sizes disagree (${written} != ${this.partBytes})`));
        return;
      }
      writeHeader(data, written);
      const batch: Write = {
        waiters: this.waiters,
        bytes: data.length,
        lastSeq: this.lastSeq,
        done: false,
        error: null,
      };
      this.parts = [];
      this.partBytes = 0;
      this.waiters = [];
      const position = this.reserved;
      this.reserved += data.length;
      this.lastWriteBytes = data.length;
      this.inFlight.push(batch);
      writeAt(this.handle.fd, data, position, (err) => {
        batch.done = true;
        if (err !== null) {
          batch.error = err;
          this.cutting = true;
        }
        this.settle();
      });
    }
  }

  /** Starts a zero write when less than half the runway is left (see the header). */
  private extendRunway(): void {
    if (this.zeroingFrom >= 0 || this.rotating || this.cutting || this.closed) return;
    if (this.error !== null || performance.now() < this.runwayRetryAt) return;
    // Tiny test segments get a runway of their own size.
    const runway = Math.min(RUNWAY_BYTES, this.segmentBytes);
    // Writes of half the runway or more (W1's large batches) would pass it at once and then
    // wait for the zero write: each grows the file as before, and costs no extra write.
    if (this.lastWriteBytes * 2 > runway) return;
    const from = Math.max(this.filled, this.reserved);
    const to = Math.min(this.reserved + runway, this.segmentBytes);
    if (to - from < runway / 2) return;
    this.zeroingFrom = from;
    writeAt(this.handle.fd, ZEROS.subarray(0, to - from), from, (err) => {
      this.zeroingFrom = -1;
      if (err === null) this.filled = to;
      else this.runwayRetryAt = performance.now() + RETRY_MS;
      if (this.cutting) {
        if (this.inFlight.every((w) => w.done)) this.cutBack();
        return;
      }
      this.pump();
      this.notifyIfIdle();
    });
  }

  private notifyIfIdle(): void {
    if (this.inFlight.length > 0 || this.rotating || this.cutting || this.zeroingFrom >= 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Acknowledges finished writes in file order; starts the cut once a failure has settled. */
  private settle(): void {
    const segment = this.segments.at(-1) as Segment;
    while (this.inFlight[0]?.done === true && this.inFlight[0].error === null) {
      const write = this.inFlight.shift() as Write;
      const start = segment.bytes + HEADER_BYTES;
      segment.bytes += write.bytes;
      segment.lastSeq = write.lastSeq;
      for (const w of write.waiters) w.resolve({ segment, pos: start + w.offset });
    }
    if (this.cutting) {
      if (this.inFlight.every((w) => w.done) && this.zeroingFrom < 0) this.cutBack();
      return;
    }
    this.pump();
    this.extendRunway();
    this.notifyIfIdle();
  }

  /**
   * Every write from the first failed one on is refused, even one that landed after it: acks
   * go in file order. Their bytes are cut so that no restart can bring a refused event back.
   */
  private cutBack(): void {
    const failed = this.inFlight.splice(0);
    const cause = failed.find((w) => w.error !== null)?.error;
    const refused = [...failed.flatMap((w) => w.waiters), ...this.waiters];
    this.waiters = [];
    this.parts = [];
    this.partBytes = 0;
    const segment = this.segments.at(-1) as Segment;
    const fd = this.handle.fd;
    const finish = (cutErr: Error | null): void => {
      const code = codeOf(cause);
      // The runway went with the cut; truncated or not, nothing past the records is known.
      this.filled = segment.bytes;
      if (cutErr === null) {
        this.reserved = segment.bytes;
        this.blockedUntil = performance.now() + RETRY_MS;
        this.lastFailure = new LogWriteError(
          `the queue log cannot be written (${code ?? cause?.message ?? 'error'})`,
          true,
          code,
          { cause },
        );
      } else {
        this.error = new LogWriteError(
          `the queue log cannot be written and a failed write could not be cut (${cutErr.message})`,
          false,
          code,
          { cause: cutErr },
        );
        this.lastFailure = this.error;
      }
      this.cutting = false;
      for (const w of refused) w.reject(this.lastFailure);
      this.pump();
      this.notifyIfIdle();
    };
    ftruncate(fd, segment.bytes, (err) => {
      if (err !== null) return finish(err);
      fdatasync(fd, finish);
    });
  }

  private fail(err: Error): void {
    this.error ??= new LogWriteError(err.message, false, codeOf(err), { cause: err });
    const waiters = [...this.inFlight.flatMap((w) => w.waiters), ...this.waiters];
    this.inFlight.length = 0;
    this.waiters = [];
    this.parts = [];
    this.partBytes = 0;
    for (const w of waiters) w.reject(this.error);
    this.notifyIfIdle();
  }

  private async rotate(): Promise<void> {
    this.rotating = true;
    try {
      const last = this.segments.at(-1) as Segment;
      const firstSeq = last.lastSeq + 1;
      const next: Segment = {
        path: segmentPath(this.dir, firstSeq),
        firstSeq,
        format: 'framed',
        lastSeq: firstSeq - 1,
        bytes: 0,
      };
      // The old segment loses its runway before the next one exists: only the newest
      // segment may end in zeros (recovery refuses them anywhere else).
      await trimTo(this.handle.fd, last.bytes);
      const handle = await openSegment(next.path);
      try {
        await syncDir(this.dir);
      } catch (err) {
        await handle.close();
        throw err;
      }
      const old = this.handle;
      this.handle = handle;
      this.segments.push(next);
      this.reserved = 0;
      this.filled = 0;
      await old.close();
      this.onRotate();
    } catch (err) {
      // Nothing of the waiting appends was written: refuse them and try again later.
      const code = codeOf(err);
      this.blockedUntil = performance.now() + RETRY_MS;
      this.lastFailure = new LogWriteError(
        `the queue log cannot start a new segment (${code ?? (err as Error).message})`,
        true,
        code,
        { cause: err },
      );
      const refused = this.waiters;
      this.waiters = [];
      this.parts = [];
      this.partBytes = 0;
      for (const w of refused) w.reject(this.lastFailure);
    } finally {
      this.rotating = false;
    }
    this.pump();
    this.notifyIfIdle();
  }

  /** Waits for every accepted append to settle, then closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    // Appends waiting for the scheduled pump start now, not after the file is closed.
    this.pump();
    // Pending appends are now in flight, behind a rotation or in a cut, all of which end
    // in notifyIfIdle().
    while (this.inFlight.length > 0 || this.rotating || this.cutting || this.zeroingFrom >= 0) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    if (this.error === null) {
      const segment = this.segments.at(-1) as Segment;
      // A clean stop leaves the records only. A failure here is harmless (recovery ignores
      // the zeros) and must not keep the handle open.
      await trimTo(this.handle.fd, segment.bytes).catch(() => undefined);
    }
    await this.handle.close();
  }
}

/** Truncates to `length` and makes the new size durable. */
function trimTo(fd: number, length: number): Promise<void> {
  return new Promise((resolve, reject) => {
    ftruncate(fd, length, (err) => {
      if (err !== null) return reject(err);
      fdatasync(fd, (syncErr) => (syncErr === null ? resolve() : reject(syncErr)));
    });
  });
}

/**
 * One positional write (looping over short writes), through the callback API: per call it
 * costs the main thread a fraction of what FileHandle's promise wrapper does.
 */
function writeAt(
  fd: number,
  data: Buffer,
  position: number,
  done: (err: Error | null) => void,
): void {
  let offset = 0;
  const next = (): void => {
    write(fd, data, offset, data.length - offset, position + offset, (err, written) => {
      if (err !== null) return done(err);
      offset += written;
      if (offset < data.length) return next();
      if (O_DSYNC === undefined) fdatasync(fd, done);
      else done(null);
    });
  };
  next();
}
