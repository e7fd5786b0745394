/**
 * Group-commit writer of the queue log: appends text to the active segment and resolves
 * each `append` only when its bytes are durable (fdatasync), in call order.
 *
 * Everything that arrives while a write is in flight joins the next write. Writes are
 * sequential, so the file holds records in sequence order, but a write may start while the
 * previous fdatasync is still running (at most MAX_SYNCS at once): a request arriving mid-sync
 * waits for one sync, not for the rest of the current one plus its own. A later sync covers
 * every earlier write, and acknowledgements are released strictly in order, so no append is
 * ever acknowledged before all earlier ones are durable.
 *
 * States: open -> failed (a write or sync failed: every pending and later append rejects;
 * the queue stops intake; a restart recovers from what reached the disk) | closed.
 * A segment that reaches `segmentBytes` is rotated once its writes and syncs are done.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { segmentPath, syncDir, type Segment } from './segments.js';

const MAX_SYNCS = 2;

interface Batch {
  readonly parts: string[];
  readonly waiters: { resolve: () => void; reject: (err: unknown) => void }[];
  lastSeq: number;
}

export class LogWriter {
  private pending: Batch | null = null;
  private writing = false;
  private syncs = 0;
  private rotating = false;
  private chain: Promise<void> = Promise.resolve();
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
      const batch = (this.pending ??= { parts: [], waiters: [], lastSeq });
      batch.parts.push(text);
      batch.waiters.push({ resolve, reject });
      batch.lastSeq = lastSeq;
      this.pump();
    });
  }

  private pump(): void {
    if (this.pending === null || this.writing || this.rotating || this.error !== null) return;
    const active = this.segments.at(-1) as Segment;
    if (active.bytes >= this.segmentBytes) {
      if (this.syncs === 0) void this.rotate();
      return;
    }
    if (this.syncs >= MAX_SYNCS) return;
    const batch = this.pending;
    this.pending = null;
    const data = Buffer.from(batch.parts.join(''), 'utf8');
    const handle = this.handle;
    this.writing = true;
    const durable = (async () => {
      try {
        await writeAll(handle, data);
      } finally {
        this.writing = false;
      }
      active.bytes += data.length;
      active.lastSeq = batch.lastSeq;
      this.syncs++;
      this.pump();
      try {
        await handle.datasync();
      } finally {
        this.syncs--;
      }
    })();
    const previous = this.chain;
    this.chain = (async () => {
      let failure: unknown = null;
      try {
        await durable;
      } catch (err) {
        failure = err;
      }
      await previous;
      if (failure !== null && this.error === null) this.error = toError(failure);
      if (this.error !== null) {
        for (const w of batch.waiters) w.reject(this.error);
        this.rejectPending();
        return;
      }
      for (const w of batch.waiters) w.resolve();
      this.pump();
    })();
  }

  private rejectPending(): void {
    const pending = this.pending;
    this.pending = null;
    for (const w of pending?.waiters ?? []) w.reject(this.error);
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
      const handle = await open(next.path, 'a');
      await syncDir(this.dir);
      const old = this.handle;
      this.handle = handle;
      this.segments.push(next);
      await old.close();
      this.onRotate();
    } catch (err) {
      this.error ??= toError(err);
      this.rejectPending();
    } finally {
      this.rotating = false;
    }
    this.pump();
  }

  /** Waits for every accepted append to settle, then closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.pending !== null || this.writing || this.syncs > 0 || this.rotating) {
      await this.chain;
      await new Promise((resolve) => setImmediate(resolve));
    }
    await this.chain;
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

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
