/**
 * Group-commit writer of the queue log: appends text to the active segment and resolves
 * each `append` only when its bytes are durable, in call order.
 *
 * Everything that arrives while a write is in flight joins the next write, so durability
 * costs one write per group of concurrent requests, not one per request. Segment files are
 * opened with O_DSYNC: a write returns only when its data (and the file size) are on stable
 * storage, which is fdatasync's guarantee in one system call instead of two (measured under
 * W2: fewer main-thread syscalls and a shorter commit). Where O_DSYNC does not exist, each
 * write is followed by fdatasync.
 *
 * States: open -> failed (a write failed: every pending and later append rejects; the queue
 * stops intake; a restart recovers from what reached the disk) | closed.
 * A segment that reaches `segmentBytes` is rotated before the next write.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { segmentPath, syncDir, type Segment } from './segments.js';

const O_DSYNC: number | undefined = (constants as { O_DSYNC?: number }).O_DSYNC;

/** Opens a segment for appending with durable writes. */
export function openSegment(path: string): Promise<FileHandle> {
  if (O_DSYNC === undefined) return open(path, 'a');
  return open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | O_DSYNC, 0o644);
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

export class LogWriter {
  private parts: string[] = [];
  private waiters: Waiter[] = [];
  private lastSeq = 0;
  private running: Promise<void> | null = null;
  private error: Error | null = null;
  private closed = false;

  constructor(
    private readonly dir: string,
    /** All segments, oldest first; the last one is written to. Shared with the queue. */
    private readonly segments: Segment[],
    private handle: FileHandle,
    private readonly segmentBytes: number,
    private readonly onRotate: () => void,
  ) {}

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
      this.running ??= this.run();
    });
  }

  private async run(): Promise<void> {
    while (this.waiters.length > 0) {
      const waiters = this.waiters;
      const data = Buffer.from(this.parts.join(''), 'utf8');
      const lastSeq = this.lastSeq;
      this.waiters = [];
      this.parts = [];
      try {
        const active = this.segments.at(-1) as Segment;
        if (active.bytes >= this.segmentBytes) await this.rotate(active);
        await writeAll(this.handle, data);
        if (O_DSYNC === undefined) await this.handle.datasync();
        const current = this.segments.at(-1) as Segment;
        current.bytes += data.length;
        current.lastSeq = lastSeq;
      } catch (err) {
        this.error = err instanceof Error ? err : new Error(String(err));
        for (const w of [...waiters, ...this.waiters]) w.reject(this.error);
        this.waiters = [];
        this.parts = [];
        break;
      }
      for (const w of waiters) w.resolve();
    }
    this.running = null;
  }

  private async rotate(last: Segment): Promise<void> {
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
    await old.close();
    this.onRotate();
  }

  /** Waits for every accepted append to settle, then closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    await this.running;
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
