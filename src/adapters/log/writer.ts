/**
 * Group-commit writer of the queue log: appends text to the active segment and resolves
 * each `append` only when its bytes, and every byte before them, are durable.
 *
 * - Group commit: everything that arrives while writes are in flight joins the next write,
 *   so durability costs one write per group of concurrent requests, not one per request.
 * - O_DSYNC: a write returns only when its data and the file size are on stable storage
 *   (fdatasync's guarantee in one system call instead of two). Where O_DSYNC does not exist,
 *   writes run one at a time, each followed by fdatasync.
 * - Pipelining: up to MAX_IN_FLIGHT writes run at once, each at its own reserved position,
 *   so a request arriving mid-write need not wait for the rest of the current one before its
 *   own starts. Two measured best under W2: every write is a thread-pool hop costing the
 *   main thread 20-40 µs here, so more writes in flight means smaller groups and more hops. Acknowledgements are released strictly in file order. A crash can
 *   therefore leave a hole (NUL bytes) where an earlier write had not landed before a later
 *   one did; neither was acknowledged, and recovery (segments.ts) cuts the file there.
 *
 * States: open -> failed (a write failed: every pending and later append rejects; the queue
 * stops intake; a restart recovers from what reached the disk) | closed.
 * A segment that reaches `segmentBytes` is rotated once its writes have landed.
 */
import { constants, fdatasync, write } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { segmentPath, syncDir, type Segment } from './segments.js';

const O_DSYNC: number | undefined = (constants as { O_DSYNC?: number }).O_DSYNC;
const MAX_IN_FLIGHT = O_DSYNC === undefined ? 1 : 2;

/** Opens a segment for durable positional writes (creating it if needed). */
export function openSegment(path: string): Promise<FileHandle> {
  if (O_DSYNC === undefined) return open(path, constants.O_WRONLY | constants.O_CREAT, 0o644);
  return open(path, constants.O_WRONLY | constants.O_CREAT | O_DSYNC, 0o644);
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

interface Write {
  readonly waiters: Waiter[];
  readonly bytes: number;
  readonly lastSeq: number;
  done: boolean;
}

export class LogWriter {
  private parts: string[] = [];
  private waiters: Waiter[] = [];
  private lastSeq = 0;
  /** Writes started and not yet acknowledged, in file order. */
  private readonly inFlight: Write[] = [];
  /** Next free byte of the active segment (written or reserved). */
  private reserved: number;
  private rotating = false;
  private error: Error | null = null;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly dir: string,
    /** All segments, oldest first; the last one is written to. Shared with the queue. */
    private readonly segments: Segment[],
    private handle: FileHandle,
    private readonly segmentBytes: number,
    private readonly onRotate: () => void,
  ) {
    this.reserved = (segments.at(-1) as Segment).bytes;
  }

  get failed(): Error | null {
    return this.error;
  }

  /** `text` holds whole records, the last with sequence number `lastSeq`. */
  append(text: string, lastSeq: number): Promise<void> {
    if (this.error !== null) return Promise.reject(this.error);
    if (this.closed) return Promise.reject(new Error('the queue log is closed'));
    return new Promise((resolve, reject) => {
      this.parts.push(text);
      this.waiters.push({ resolve, reject });
      this.lastSeq = lastSeq;
      this.pump();
    });
  }

  private pump(): void {
    while (this.waiters.length > 0 && this.error === null && !this.rotating) {
      if (this.reserved >= this.segmentBytes) {
        if (this.inFlight.length === 0) void this.rotate();
        return;
      }
      if (this.inFlight.length >= MAX_IN_FLIGHT) return;
      const data = Buffer.from(this.parts.join(''), 'utf8');
      const batch: Write = {
        waiters: this.waiters,
        bytes: data.length,
        lastSeq: this.lastSeq,
        done: false,
      };
      this.parts = [];
      this.waiters = [];
      const position = this.reserved;
      this.reserved += data.length;
      this.inFlight.push(batch);
      writeAt(this.handle.fd, data, position, (err) => {
        if (err !== null) return this.fail(err);
        batch.done = true;
        this.settle();
      });
    }
  }

  private notifyIfIdle(): void {
    if (this.inFlight.length > 0 || this.rotating) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Acknowledges finished writes in file order. */
  private settle(): void {
    const segment = this.segments.at(-1) as Segment;
    while (this.inFlight[0]?.done === true) {
      const write = this.inFlight.shift() as Write;
      segment.bytes += write.bytes;
      segment.lastSeq = write.lastSeq;
      for (const w of write.waiters) w.resolve();
    }
    this.pump();
    this.notifyIfIdle();
  }

  private fail(err: unknown): void {
    this.error ??= err instanceof Error ? err : new Error(String(err));
    const waiters = [...this.inFlight.flatMap((w) => w.waiters), ...this.waiters];
    this.inFlight.length = 0;
    this.waiters = [];
    this.parts = [];
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
        lastSeq: firstSeq - 1,
        bytes: 0,
      };
      const handle = await openSegment(next.path);
      await syncDir(this.dir);
      const old = this.handle;
      this.handle = handle;
      this.segments.push(next);
      this.reserved = 0;
      await old.close();
      this.onRotate();
    } catch (err) {
      this.fail(err);
    } finally {
      this.rotating = false;
    }
    this.pump();
    this.notifyIfIdle();
  }

  /** Waits for every accepted append to settle, then closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    // Pending appends are always in flight or behind a rotation, both of which end in
    // notifyIfIdle().
    while (this.inFlight.length > 0 || this.rotating) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    await this.handle.close();
  }
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
