/**
 * Segment files of the embedded queue log: `<first seq, 20 digits>.log` in one directory.
 *
 * Recovery reads them in order, as bytes (scan.ts), cuts what a crash can leave at the end
 * of the last segment (a torn write, or a hole where a write was still in flight), makes
 * the cut durable, and returns every record the store has not applied yet as a position in
 * a file; only the oldest ones, up to a byte budget, are also kept decoded in memory, so a
 * full backlog costs a few dozen bytes of heap per event at start, not its payload. Any
 * other damage refuses start with one line naming the file and byte position, and changes
 * nothing on disk.
 */
import { open, readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from 'pino';
import type { Delivery } from '../../ports/queue.js';
import { decodeRecordBytes } from './codec.js';
import { scanSegment, zeroTailStart, type Format } from './scan.js';

const NAME = /^(\d{20})\.log$/;

export interface Segment {
  readonly path: string;
  readonly firstSeq: number;
  /** Only framed segments are appended to; a legacy one is read, drained and deleted. */
  readonly format: Format;
  /** Highest seq written to it; firstSeq - 1 while empty. */
  lastSeq: number;
  bytes: number;
}

/**
 * One queued record: where it is on disk, and the delivery itself while it is kept in
 * memory (null once only its position is, see LogQueue's hot budget).
 */
export interface Slot {
  readonly seq: number;
  readonly segment: Segment;
  readonly pos: number;
  /** Bytes on disk, newline included. */
  readonly len: number;
  readonly delivery: Delivery | null;
  /**
   * CRC-32 of the record line, kept for records held only as positions: when one is read
   * back, damage that happened since it was written or checked is detected, not served.
   */
  readonly crc: number;
}

export interface Recovered {
  readonly segments: Segment[];
  /** Records not applied yet, in seq order. */
  readonly pending: Slot[];
  /** The seq the next record gets. */
  readonly nextSeq: number;
}

/** Damage that is not a crash's torn tail: start-up stops, nothing was changed. */
export class QueueLogDamage extends Error {
  constructor(
    readonly path: string,
    readonly position: number,
    why: string,
  ) {
    super(
      `queue log ${path} is damaged at byte ${position} (${why}); nothing was changed. ` +
        `Run "logsieve recover --data-dir ${dirname(dirname(path))}" to salvage every intact record`,
    );
    this.name = 'QueueLogDamage';
  }
}

export function segmentPath(dir: string, firstSeq: number): string {
  return join(dir, `${String(firstSeq).padStart(20, '0')}.log`);
}

export async function segmentNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => NAME.test(n)).sort();
}

export function firstSeqOf(name: string): number {
  return Number(NAME.exec(name)?.[1]);
}

export async function recoverSegments(
  dir: string,
  isApplied: (seq: number) => boolean,
  log: Logger,
  /** Payload bytes of pending records to keep decoded in memory. */
  hotBudget: number,
): Promise<Recovered> {
  const names = await segmentNames(dir);
  const segments: Segment[] = [];
  const pending: Slot[] = [];
  let hot = 0;
  let nextSeq = 1;
  for (const [index, name] of names.entries()) {
    const path = join(dir, name);
    const firstSeq = firstSeqOf(name);
    // Bytes, never text: positions are byte offsets, and invalid UTF-8 must stay visible.
    const raw = await readFile(path);
    const last = index === names.length - 1;
    // Only the newest segment is written to, so only it may end in the writer's runway.
    const buf = last ? raw.subarray(0, zeroTailStart(raw)) : raw;
    const scan = scanSegment(buf, Math.max(nextSeq, firstSeq));
    if (scan.damage !== null) {
      if (!last || !scan.damage.torn) {
        throw new QueueLogDamage(path, scan.damage.pos, scan.damage.why);
      }
      log.warn(
        { path, at: scan.end, bytes: buf.length - scan.end },
        'cutting unacknowledged writes at the end of the queue log',
      );
    }
    // Unacknowledged writes, and the runway's zeros after a crash: the writer appends at the
    // end of the records and keeps its own runway.
    if (scan.end < raw.length) await cut(path, scan.end);
    const segment: Segment = {
      path,
      firstSeq,
      format: scan.format,
      lastSeq: scan.records.at(-1)?.seq ?? firstSeq - 1,
      bytes: scan.end,
    };
    for (const r of scan.records) {
      if (isApplied(r.seq)) continue;
      let delivery: Delivery | null = null;
      if (hot + r.len <= hotBudget) {
        const record = decodeRecordBytes(buf, r.pos, r.pos + r.len - 1);
        if (record === null || record.seq !== r.seq) {
          throw new QueueLogDamage(path, r.pos, 'not a valid record');
        }
        delivery = { id: String(r.seq), event: record.event };
        hot += r.len;
      }
      // Framed records lie in a frame whose checksum was just verified, legacy ones were
      // parsed strictly by the scan: either way these bytes are the ones to expect later.
      const crc = delivery === null ? crc32(buf.subarray(r.pos, r.pos + r.len)) : 0;
      pending.push({ seq: r.seq, segment, pos: r.pos, len: r.len, delivery, crc });
    }
    nextSeq = Math.max(segment.lastSeq + 1, firstSeq);
    segments.push(segment);
  }
  return { segments, pending, nextSeq };
}

/** Truncates `path` to `length` and makes the new size durable before anything is appended. */
async function cut(path: string, length: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.truncate(length);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/**
 * Reads the records of `slots` back from their segments (one read per run of adjacent
 * records), strictly: a record that does not decode, or holds another seq than its slot,
 * is damage after start, reported with its file and position.
 */
export async function readSlots(slots: readonly Slot[]): Promise<Delivery[]> {
  const out: Delivery[] = new Array<Delivery>(slots.length);
  let i = 0;
  while (i < slots.length) {
    const first = slots[i] as Slot;
    let j = i + 1;
    let end = first.pos + first.len;
    for (; j < slots.length; j++) {
      const s = slots[j] as Slot;
      if (s.segment !== first.segment || s.pos !== end || s.delivery !== null) break;
      end += s.len;
    }
    if (first.delivery !== null) {
      out[i] = first.delivery;
      i++;
      continue;
    }
    const buf = Buffer.allocUnsafe(end - first.pos);
    const handle = await open(first.segment.path, 'r');
    try {
      let got = 0;
      while (got < buf.length) {
        const { bytesRead } = await handle.read(buf, got, buf.length - got, first.pos + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      if (got < buf.length)
        throw new QueueLogDamage(first.segment.path, first.pos + got, 'file shorter than expected');
    } finally {
      await handle.close();
    }
    for (let k = i; k < j; k++) {
      const s = slots[k] as Slot;
      const at = s.pos - first.pos;
      const record =
        crc32(buf.subarray(at, at + s.len)) === s.crc
          ? decodeRecordBytes(buf, at, at + s.len - 1)
          : null;
      if (record === null || record.seq !== s.seq) {
        throw new QueueLogDamage(s.segment.path, s.pos, 'not a valid record');
      }
      out[k] = { id: String(s.seq), event: record.event };
    }
    i = j;
  }
  return out;
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
