/**
 * Reads one segment of the queue log as bytes and says which records in it are intact, where
 * the first damage is, and whether that damage is what a crash leaves behind.
 *
 * What a crash can leave (writer.ts): the writer appends at reserved positions with up to two
 * writes in flight and acknowledges them in file order, so at the end of the LAST segment
 * there may be (a) a torn last write: the file ends inside it, or its unlanded blocks read
 * as NUL bytes; (b) a hole: NULs where the earlier of two in-flight writes never landed,
 * followed by the one later write, complete, ending the file. Neither was acknowledged.
 * Anything else (a checksum mismatch without NULs, a zeroed block followed by more
 * intact data, damage in an older segment) is damage: the caller refuses to start.
 *
 * Two formats: framed (format 2, frame.ts) and legacy (format 1, bare record lines, no
 * checksum; every record is parsed strictly instead). A file's first non-NUL byte says which.
 */
import { checkFrame, HEADER_BYTES, type FrameCheck } from './frame.js';
import { decodeRecordBytes, seqAt } from './codec.js';

export type Format = 'framed' | 'legacy';

/** One record line on disk; `len` counts its newline. */
export interface RecordPos {
  readonly seq: number;
  readonly pos: number;
  readonly len: number;
}

export interface Damage {
  readonly pos: number;
  readonly why: string;
}

export interface Scan {
  readonly format: Format;
  /** Intact records before the first damage, in file order, seqs strictly increasing. */
  readonly records: RecordPos[];
  /** End of the intact prefix: where a torn tail is cut. */
  readonly end: number;
  /** `torn`: the damage is what a crash leaves at the end of the log (see the header). */
  readonly damage: (Damage & { readonly torn: boolean }) | null;
}

/**
 * Where the NUL bytes that end `buf` begin (its length if it ends otherwise). The newest
 * segment may end in the writer's zero-filled runway (writer.ts); a record or frame always
 * ends in a newline, so no record byte is ever taken for it.
 */
export function zeroTailStart(buf: Buffer): number {
  let end = buf.length;
  while (end > 0 && buf[end - 1] === 0) end--;
  return end;
}

export function formatOf(buf: Buffer): Format {
  for (const byte of buf) {
    if (byte === 0) continue;
    return byte === 0x5b ? 'legacy' : 'framed';
  }
  return 'framed';
}

/** Scans until the first damage. `minSeq`: every record's seq must be at least this. */
export function scanSegment(buf: Buffer, minSeq: number): Scan {
  const format = formatOf(buf);
  const records: RecordPos[] = [];
  let pos = 0;
  let prev = minSeq - 1;
  while (pos < buf.length) {
    const unit = format === 'framed' ? frameAt(buf, pos, prev) : lineAt(buf, pos, prev);
    if (!unit.ok) {
      const torn =
        format === 'framed' ? tornFramed(buf, pos, unit.check, prev) : tornLegacy(buf, pos, prev);
      return { format, records, end: pos, damage: { pos, why: unit.why, torn } };
    }
    for (const r of unit.records) records.push(r);
    prev = unit.records.at(-1)?.seq ?? prev;
    pos = unit.end;
  }
  return { format, records, end: pos, damage: null };
}

export interface Salvage {
  readonly format: Format;
  /** Every intact record found, damaged regions skipped. */
  readonly records: RecordPos[];
  /** Byte ranges [pos, end) that could not be read. */
  readonly damaged: (Damage & { readonly end: number })[];
}

/** Like scanSegment, but skips each damaged region and goes on reading (for `recover`). */
export function salvageSegment(buf: Buffer, minSeq: number): Salvage {
  const format = formatOf(buf);
  const records: RecordPos[] = [];
  const damaged: (Damage & { end: number })[] = [];
  let pos = 0;
  let prev = minSeq - 1;
  while (pos < buf.length) {
    const unit = format === 'framed' ? frameAt(buf, pos, prev) : lineAt(buf, pos, prev);
    if (unit.ok) {
      for (const r of unit.records) records.push(r);
      prev = unit.records.at(-1)?.seq ?? prev;
      pos = unit.end;
      continue;
    }
    const next = format === 'framed' ? nextFrame(buf, pos + 1, prev) : nextLine(buf, pos + 1, prev);
    const end = next === -1 ? buf.length : next;
    damaged.push({ pos, end, why: unit.why });
    pos = end;
  }
  return { format, records, damaged };
}

type Unit =
  | { readonly ok: true; readonly records: RecordPos[]; readonly end: number }
  | { readonly ok: false; readonly why: string; readonly check: FrameCheck | null };

function frameAt(buf: Buffer, pos: number, prev: number): Unit {
  const check = checkFrame(buf, pos);
  if (!check.ok) return { ok: false, why: check.why, check };
  const records: RecordPos[] = [];
  let at = pos + HEADER_BYTES;
  while (at < check.end) {
    const nl = buf.indexOf(0x0a, at);
    const seq = seqAt(buf, at, nl);
    // The checksum matched, so a bad record here was written that way: damage, not a tear.
    if (seq <= prev) return { ok: false, why: 'record out of sequence', check: null };
    records.push({ seq, pos: at, len: nl + 1 - at });
    prev = seq;
    at = nl + 1;
  }
  return { ok: true, records, end: check.end };
}

function lineAt(buf: Buffer, pos: number, prev: number): Unit {
  const nl = buf.indexOf(0x0a, pos);
  if (nl === -1) return { ok: false, why: 'incomplete last line', check: null };
  const record = decodeRecordBytes(buf, pos, nl);
  if (record === null) return { ok: false, why: 'not a valid record', check: null };
  if (record.seq <= prev) return { ok: false, why: 'record out of sequence', check: null };
  return { ok: true, records: [{ seq: record.seq, pos, len: nl + 1 - pos }], end: nl + 1 };
}

/** The next position after `from` where an intact frame with newer records starts, or -1. */
function nextFrame(buf: Buffer, from: number, prev: number): number {
  for (let i = buf.indexOf(0x40, from); i !== -1; i = buf.indexOf(0x40, i + 1)) {
    if (frameAt(buf, i, prev).ok) return i;
  }
  return -1;
}

/** The next line start after `from` holding an intact, newer record, or -1. */
function nextLine(buf: Buffer, from: number, prev: number): number {
  for (let nl = buf.indexOf(0x0a, from - 1); nl !== -1; nl = buf.indexOf(0x0a, nl + 1)) {
    if (nl + 1 < buf.length && lineAt(buf, nl + 1, prev).ok) return nl + 1;
  }
  return -1;
}

function tornFramed(buf: Buffer, pos: number, check: FrameCheck | null, prev: number): boolean {
  if (check === null) return false;
  const next = nextFrame(buf, pos + 1, prev);
  // (a) a torn last write: the file ends inside it, or some of it never landed (NULs).
  if (next === -1) return (!check.ok && check.incomplete) || buf.includes(0, pos);
  // (b) a hole: unlanded NULs, then exactly one complete later write that ends the file.
  const later = checkFrame(buf, next);
  return later.ok && later.end === buf.length && buf.subarray(pos, next).includes(0);
}

/**
 * Legacy segments have no checksum, so only an unmistakable tear is cut: an incomplete last
 * line, or NULs, with no intact record after them. A legacy hole followed by records refuses
 * start (recover salvages it), because without frames it cannot be told from a zeroed block.
 */
function tornLegacy(buf: Buffer, pos: number, prev: number): boolean {
  if (nextLine(buf, pos + 1, prev) !== -1) return false;
  return buf.indexOf(0x0a, pos) === -1 || buf.includes(0, pos);
}
