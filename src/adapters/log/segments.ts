/**
 * Segment files of the embedded queue log: `<first seq, 20 digits>.log` in one directory.
 * Recovery reads them in order, cuts off what a crash can leave at the end of the last
 * segment (a torn write, or a hole where a write was still in flight; see writer.ts) and
 * yields every record the store has not applied yet. Damage anywhere else refuses start.
 */
import { open, readdir, readFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AcceptedEvent } from '../../domain/event.js';
import { decodeRecord } from './codec.js';

const NAME = /^(\d{20})\.log$/;

export interface Segment {
  readonly path: string;
  readonly firstSeq: number;
  /** Highest seq written to it; firstSeq - 1 while empty. */
  lastSeq: number;
  bytes: number;
}

export interface Recovered {
  readonly segments: Segment[];
  /** Records not applied yet, in seq order. */
  readonly pending: { seq: number; event: AcceptedEvent }[];
  /** The seq the next record gets. */
  readonly nextSeq: number;
}

export function segmentPath(dir: string, firstSeq: number): string {
  return join(dir, `${String(firstSeq).padStart(20, '0')}.log`);
}

export async function recoverSegments(
  dir: string,
  isApplied: (seq: number) => boolean,
  log: Logger,
): Promise<Recovered> {
  const names = (await readdir(dir)).filter((n) => NAME.test(n)).sort();
  const segments: Segment[] = [];
  const pending: { seq: number; event: AcceptedEvent }[] = [];
  let nextSeq = 1;
  for (const [index, name] of names.entries()) {
    const path = join(dir, name);
    const firstSeq = Number(NAME.exec(name)?.[1]);
    const text = await readFile(path, 'utf8');
    const segment: Segment = { path, firstSeq, lastSeq: firstSeq - 1, bytes: 0 };
    let pos = 0;
    while (pos < text.length) {
      const nl = text.indexOf('\n', pos);
      const line = nl === -1 ? null : text.slice(pos, nl);
      // The end of what was acknowledged: a torn last write (no newline), or a hole of NUL
      // bytes left by a write still in flight at the crash while a later one landed. The
      // writer acknowledges in file order, so nothing after either point was acknowledged.
      if (line === null || line.includes('\0')) {
        if (index !== names.length - 1) {
          throw new Error(`corrupt queue log ${path} at character ${pos}: refusing to start`);
        }
        log.warn(
          { path, bytes: Buffer.byteLength(text.slice(pos)) },
          'discarding unacknowledged writes at the end of the queue log',
        );
        await truncate(path, Buffer.byteLength(text.slice(0, pos)));
        break;
      }
      const record = decodeRecord(line);
      if (record === null || record.seq < nextSeq || record.seq < firstSeq) {
        throw new Error(`corrupt queue log ${path} at character ${pos}: refusing to start`);
      }
      if (!isApplied(record.seq)) pending.push(record);
      segment.lastSeq = record.seq;
      nextSeq = record.seq + 1;
      pos = nl + 1;
    }
    segment.bytes = Buffer.byteLength(text.slice(0, pos));
    nextSeq = Math.max(nextSeq, firstSeq);
    segments.push(segment);
  }
  return { segments, pending, nextSeq };
}

/** fsync a directory so a file created or removed in it survives a power loss. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
