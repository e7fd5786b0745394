/**
 * Salvage of a damaged queue log (`logsieve recover`), run while the aggregator is stopped.
 *
 * For every segment with damage: every intact record (a frame whose checksum holds, or a
 * legacy line that parses strictly) is copied into a new framed file, the damaged file is
 * kept under `<data dir>/queue-damaged/` (hard-linked, or copied, never deleted), and the new
 * file replaces it by an atomic rename. A crash at any point leaves either the old or the
 * new segment in place, never neither.
 *
 * What was lost is counted from sequence numbers: the records of a damaged region are the
 * seqs between the intact records around it (up to the next segment's first seq). Those the
 * store already applied are not lost; the rest are written to `lost-seqs.json`, so the
 * queue stops counting them as received and the stats invariant holds again. Records in a
 * damaged tail of the newest segment past the store's last applied seq cannot be counted;
 * their bytes are reported instead.
 */
import { readFileSync } from 'node:fs';
import { copyFile, link, mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { decodeRecordBytes } from './codec.js';
import { HEADER_BYTES, writeHeader } from './frame.js';
import { LOST_FILE } from './queue.js';
import { salvageSegment, zeroTailStart, type RecordPos } from './scan.js';
import { firstSeqOf, segmentNames, syncDir } from './segments.js';

export interface SalvagedSegment {
  readonly path: string;
  readonly movedTo: string;
  /** Damaged byte ranges [pos, end). */
  readonly damaged: readonly { readonly pos: number; readonly end: number; readonly why: string }[];
  readonly salvaged: number;
}

export interface SalvageReport {
  readonly segmentsChecked: number;
  readonly segments: readonly SalvagedSegment[];
  readonly salvaged: number;
  /** Records in damaged regions that the store never applied: lost. */
  readonly unreadable: number;
  /** Records in damaged regions that the store had applied already: not lost. */
  readonly alreadyStored: number;
  /** Damaged bytes at the end of the newest segment whose records cannot be counted. */
  readonly uncountedBytes: number;
}

const FRAME_BODY_BYTES = 1024 * 1024;

export async function salvageQueueLog(
  dir: string,
  store: { isApplied(seq: number): boolean; maxAppliedSeq(): number },
  now: Date,
): Promise<SalvageReport> {
  const names = await segmentNames(dir);
  const aside = join(dirname(dir), 'queue-damaged');
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  const segments: SalvagedSegment[] = [];
  const lostRanges: [number, number][] = [];
  let salvaged = 0;
  let unreadable = 0;
  let alreadyStored = 0;
  let uncountedBytes = 0;
  let nextSeq = 1;
  const missing = (from: number, to: number): void => {
    let run: [number, number] | null = null;
    for (let s = from; s <= to; s++) {
      if (store.isApplied(s)) {
        alreadyStored++;
        run = null;
        continue;
      }
      unreadable++;
      if (run === null) lostRanges.push((run = [s, s]));
      else run[1] = s;
    }
  };
  for (const [index, name] of names.entries()) {
    const path = join(dir, name);
    const firstSeq = firstSeqOf(name);
    const nextName = names[index + 1];
    // Every seq up to the next segment's first was written to this one.
    const lastPossible = nextName === undefined ? null : firstSeqOf(nextName) - 1;
    const raw = await readFile(path);
    // The newest segment may end in the writer's zero-filled runway: no record is there.
    const buf = nextName === undefined ? raw.subarray(0, zeroTailStart(raw)) : raw;
    const result = salvageSegment(buf, Math.max(nextSeq, firstSeq));
    const records = result.records;
    if (result.damaged.length > 0) {
      // Seqs that sat in each damaged region: between the intact records around it.
      for (const region of result.damaged) {
        const before = records.filter((r) => r.pos < region.pos).at(-1);
        const after = records.find((r) => r.pos >= region.end);
        const from = (before?.seq ?? firstSeq - 1) + 1;
        if (after !== undefined) missing(from, after.seq - 1);
        else if (lastPossible !== null) missing(from, lastPossible);
        else {
          // The newest segment's tail: only what the store applied is known to have existed.
          missing(from, Math.max(from - 1, store.maxAppliedSeq()));
          uncountedBytes += region.end - region.pos;
        }
      }
      const movedTo = join(aside, `${name}.${stamp}`);
      await mkdir(aside, { recursive: true });
      await replaceSegment(path, movedTo, buf, records);
      segments.push({ path, movedTo, damaged: result.damaged, salvaged: records.length });
    }
    salvaged += records.length;
    nextSeq = Math.max((records.at(-1)?.seq ?? firstSeq - 1) + 1, firstSeq);
  }
  if (lostRanges.length > 0) await recordLost(dir, lostRanges);
  return {
    segmentsChecked: names.length,
    segments,
    salvaged,
    unreadable,
    alreadyStored,
    uncountedBytes,
  };
}

/** Writes the intact records as frames to a new file, keeps the old one aside, swaps. */
async function replaceSegment(
  path: string,
  movedTo: string,
  buf: Buffer,
  records: readonly RecordPos[],
): Promise<void> {
  const tmp = `${path}.salvaged`;
  const handle = await open(tmp, 'w', 0o644);
  try {
    let i = 0;
    while (i < records.length) {
      let bytes = 0;
      let j = i;
      while (
        j < records.length &&
        (j === i || bytes + (records[j] as RecordPos).len <= FRAME_BODY_BYTES)
      ) {
        bytes += (records[j] as RecordPos).len;
        j++;
      }
      const frame = Buffer.allocUnsafe(HEADER_BYTES + bytes);
      let at = HEADER_BYTES;
      for (let k = i; k < j; k++) {
        const r = records[k] as RecordPos;
        at += buf.copy(frame, at, r.pos, r.pos + r.len);
      }
      writeHeader(frame, bytes);
      await handle.write(frame);
      i = j;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(path, movedTo);
  } catch {
    await copyFile(path, movedTo);
  }
  await syncDir(dirname(movedTo));
  await rename(tmp, path);
  await syncDir(dirname(path));
}

/** Merges `ranges` into the queue's record of lost seqs, durably. */
async function recordLost(dir: string, ranges: readonly [number, number][]): Promise<void> {
  const file = join(dir, LOST_FILE);
  const all = [...(await lostRangesOf(dir)), ...ranges].sort((a, b) => a[0] - b[0]);
  const tmp = `${file}.tmp`;
  await writeFile(tmp, `${JSON.stringify({ ranges: all })}\n`, { flush: true });
  await rename(tmp, file);
  await syncDir(dir);
}

/** The seqs `recover` recorded as lost (LOST_FILE), ascending; none when it has not run. */
async function lostRangesOf(dir: string): Promise<[number, number][]> {
  try {
    const text = await readFile(join(dir, LOST_FILE), 'utf8');
    return (JSON.parse(text) as { ranges: [number, number][] }).ranges;
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * What the log in `dir` holds, for the store's salvage to rebuild its applied positions
 * (src/adapters/sqlite/salvage.ts): the lost seqs, and each intact record's
 * seq and key (damaged regions skipped), one segment in memory at a time; null when it
 * holds no segment.
 */
export async function queueLogView(dir: string): Promise<{
  lost: [number, number][];
  records(): Generator<{ seq: number; topic: string; event_id: string }>;
} | null> {
  const names = await segmentNames(dir);
  if (names[0] === undefined) return null;
  return {
    lost: await lostRangesOf(dir),
    // Synchronous reads: the store's salvage consumes this inside its one transaction.
    *records() {
      for (const [i, name] of names.entries()) {
        const raw = readFileSync(join(dir, name));
        const buf = i === names.length - 1 ? raw.subarray(0, zeroTailStart(raw)) : raw;
        for (const r of salvageSegment(buf, firstSeqOf(name)).records) {
          const decoded = decodeRecordBytes(buf, r.pos, r.pos + r.len - 1);
          if (decoded !== null) {
            yield {
              seq: decoded.seq,
              topic: decoded.event.topic,
              event_id: decoded.event.event_id,
            };
          }
        }
      }
    },
  };
}

export const describeSegment = (s: SalvagedSegment): string =>
  `${basename(s.path)}: ${s.salvaged} intact records kept; damaged bytes ${s.damaged
    .map((d) => `${d.pos}-${d.end} (${d.why})`)
    .join(', ')}; original kept as ${s.movedTo}`;
