/**
 * Damage to the embedded queue log is detected, never silently repaired: a zeroed block or a
 * flipped byte anywhere but a torn tail stops the queue from opening with one line naming the
 * file and byte position, and leaves the file exactly as it was.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { encodeRecord } from '../../src/adapters/log/codec.js';
import { openLogQueue, type LogQueue } from '../../src/adapters/log/queue.js';
import { salvageQueueLog } from '../../src/adapters/log/salvage.js';
import { segmentPath } from '../../src/adapters/log/segments.js';
import type { AcceptedEvent } from '../../src/domain/event.js';
import { makeDataDir, removeDir } from '../helpers/tmp.js';
import { drainIds, frame } from '../helpers/log-queue.js';

const log = pino({ level: 'silent' });

const ev = (i: number): AcceptedEvent => ({
  topic: 't',
  event_id: `e${i}`,
  timestamp: '2025-10-24T00:00:00.000Z',
  source: 's',
  payload: JSON.stringify({ i, text: 'abracadabra'.repeat(4) }),
});

const open = (dir: string, hotBytes?: number): Promise<LogQueue> =>
  openLogQueue({
    dir,
    queueMax: 10_000,
    log,
    isApplied: () => false,
    ...(hotBytes === undefined ? {} : { hotBytes }),
  });

/** A segment as the unframed writer before format 2 left it: bare record lines. */
const legacyLines = (from: number, n: number): string =>
  Array.from({ length: n }, (_, k) => encodeRecord(from + k, ev(from + k))).join('');

/** 100 acknowledged events in 100 requests (so in many writes), then a clean close. */
async function fill(dir: string): Promise<string> {
  const q = await open(dir);
  for (let i = 0; i < 100; i++) await q.enqueue([ev(i)]);
  await q.close();
  const names = (await readdir(dir)).filter((n) => n.endsWith('.log'));
  assert.equal(names.length, 1);
  return join(dir, names[0] ?? '');
}

async function damaged(damage: (bytes: Buffer) => number): Promise<void> {
  const dir = await makeDataDir('logsieve-damage');
  try {
    const file = await fill(dir);
    const bytes = await readFile(file);
    const at = damage(bytes);
    await writeFile(file, bytes);
    await assert.rejects(open(dir), (err: Error) => {
      assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
      assert.ok(err.message.includes(file), `names the file: ${err.message}`);
      const pos = /byte (\d+)/.exec(err.message);
      assert.ok(pos !== null, `names a byte position: ${err.message}`);
      // The reported position is where the damaged record (or frame) begins: at or before
      // the damaged byte, and not far from it.
      assert.ok(Number(pos[1]) <= at && at - Number(pos[1]) < 4096, err.message);
      return true;
    });
    assert.deepEqual(await readFile(file), bytes, 'the file is left untouched');
  } finally {
    await removeDir(dir);
  }
}

void describe('queue log damage', () => {
  void it('refuses to open a log with 512 zeroed bytes at a quarter of the file', async () => {
    await damaged((bytes) => {
      const at = Math.floor(bytes.length / 4);
      bytes.fill(0, at, at + 512);
      return at;
    });
  });

  void it('refuses to open a log with one flipped byte (0x61 -> 0xE1) in the middle', async () => {
    await damaged((bytes) => {
      const at = bytes.indexOf(0x61, Math.floor(bytes.length / 2));
      assert.ok(at > 0);
      bytes[at] = 0xe1;
      return at;
    });
  });

  void it('refuses to open a log whose last record has a flipped byte', async () => {
    await damaged((bytes) => {
      const at = bytes.lastIndexOf(0x61);
      bytes[at] = 0x62;
      return at;
    });
  });

  void it('still cuts a torn tail and appends after the last intact record', async () => {
    const dir = await makeDataDir('logsieve-damage');
    try {
      const file = await fill(dir);
      const bytes = await readFile(file);
      // The last write of a crash reached the disk only partly.
      await writeFile(file, bytes.subarray(0, bytes.length - 20));
      const q = await open(dir);
      assert.deepEqual(q.statsNow(), { received: 99, depth: 99 });
      assert.deepEqual(await q.enqueue([ev(1000)]), ['100']);
      await q.close();
      const again = await open(dir);
      assert.deepEqual(again.statsNow(), { received: 100, depth: 100 });
      const ids: string[] = [];
      for (let lease = await again.take(1000); lease !== null;) {
        ids.push(...lease.deliveries.map((d) => d.event.event_id));
        await again.ack(lease);
        if (again.statsNow().depth === 0) break;
        lease = await again.take(1000);
      }
      assert.equal(ids.length, 100);
      assert.equal(ids.at(-1), 'e1000');
      assert.equal(ids.at(-2), 'e98');
      await again.close();
    } finally {
      await removeDir(dir);
    }
  });

  void it('reads a segment written before framing strictly, and appends in a new one', async () => {
    const dir = await makeDataDir('logsieve-damage');
    try {
      await writeFile(segmentPath(dir, 1), legacyLines(1, 10));
      const q = await open(dir);
      assert.deepEqual(q.statsNow(), { received: 10, depth: 10 });
      assert.deepEqual(await q.enqueue([ev(10)]), ['11']);
      await q.close();
      assert.equal((await readdir(dir)).filter((n) => n.endsWith('.log')).length, 2);
      const again = await open(dir);
      const ids = await drainIds(again);
      assert.deepEqual(
        ids,
        Array.from({ length: 11 }, (_, i) => `e${i + 1 === 11 ? 10 : i + 1}`),
      );
      await again.close();
    } finally {
      await removeDir(dir);
    }
  });

  void it('refuses a pre-framing segment with NULs followed by more records', async () => {
    const dir = await makeDataDir('logsieve-damage');
    try {
      const text = Buffer.from(legacyLines(1, 10));
      const at = text.indexOf('\n[4,') + 1;
      text.fill(0, at, at + 30);
      await writeFile(segmentPath(dir, 1), text);
      await assert.rejects(open(dir), new RegExp(`byte ${at}\\b`));
      assert.deepEqual(await readFile(segmentPath(dir, 1)), text);
    } finally {
      await removeDir(dir);
    }
  });

  void it('keeps only positions of a backlog above the memory budget and reads it back', async () => {
    const dir = await makeDataDir('logsieve-damage');
    try {
      await fill(dir);
      // A budget of one record: the rest are read back from the log when taken.
      const q = await open(dir, 200);
      const ids = await drainIds(q);
      assert.deepEqual(
        ids,
        Array.from({ length: 100 }, (_, i) => `e${i}`),
      );
      await q.close();
    } finally {
      await removeDir(dir);
    }
  });

  void it('recover salvages every intact record around a damaged block and counts the rest', async () => {
    const root = await makeDataDir('logsieve-damage');
    const dir = join(root, 'queue');
    try {
      await mkdir(dir);
      const file = await fill(dir);
      const bytes = await readFile(file);
      const at = Math.floor(bytes.length / 2);
      bytes.fill(0, at, at + 100);
      await writeFile(file, bytes);
      await assert.rejects(open(dir), /damaged at byte/);

      const noneApplied = { isApplied: () => false, maxAppliedSeq: () => 0 };
      const report = await salvageQueueLog(dir, noneApplied, new Date());
      assert.equal(report.segments.length, 1);
      assert.ok(report.unreadable >= 1 && report.unreadable <= 2, `${report.unreadable}`);
      assert.equal(report.salvaged + report.unreadable, 100);
      assert.equal(report.uncountedBytes, 0);
      assert.deepEqual(
        await readFile(report.segments[0]?.movedTo ?? ''),
        bytes,
        'the damaged segment is kept',
      );

      const q = await open(dir);
      // The lost events are no longer counted as received: the invariant holds again.
      assert.deepEqual(q.statsNow(), { received: report.salvaged, depth: report.salvaged });
      const ids = await drainIds(q);
      assert.equal(ids.length, report.salvaged);
      assert.equal(new Set(ids).size, ids.length);
      assert.deepEqual(await q.enqueue([ev(500)]), ['101'], 'seqs are never reused');
      await q.close();
      const again = await salvageQueueLog(dir, noneApplied, new Date());
      assert.equal(again.segments.length, 0, 'a salvaged log has no damage left');
    } finally {
      await removeDir(root);
    }
  });

  void it('cuts NULs followed by one later write, but refuses NULs followed by two', async () => {
    for (const later of [1, 2]) {
      const dir = await makeDataDir('logsieve-damage');
      try {
        const file = await fill(dir);
        const intact = await readFile(file);
        // Two writes in flight at a crash: the first never landed (NULs), the next did. A
        // third write cannot have started before the first was acknowledged.
        const tail: Buffer[] = [Buffer.alloc(64)];
        for (let k = 0; k < later; k++) tail.push(frame(encodeRecord(110 + k, ev(110 + k))));
        await writeFile(file, Buffer.concat([intact, ...tail]));
        if (later === 1) {
          const q = await open(dir);
          assert.deepEqual(q.statsNow(), { received: 100, depth: 100 });
          await q.close();
          assert.deepEqual(await readFile(file), intact, 'cut back to the intact prefix');
        } else {
          await assert.rejects(open(dir), new RegExp(`byte ${intact.length}\\b`));
        }
      } finally {
        await removeDir(dir);
      }
    }
  });

  void it('detects damage to a record held only as a position when it is read back', async () => {
    const dir = await makeDataDir('logsieve-damage');
    try {
      const file = await fill(dir);
      const q = await open(dir, 200);
      // After start-up checked it, a byte of a cold record changes (still valid JSON).
      const bytes = await readFile(file);
      const at = bytes.lastIndexOf(0x61);
      bytes[at] = 0x62;
      await writeFile(file, bytes);
      const first = await q.take(1);
      assert.ok(first !== null);
      await q.ack(first);
      await assert.rejects(q.take(1000), (err: Error) => {
        assert.ok(err.message.includes(file) && /byte \d+/.test(err.message), err.message);
        return true;
      });
      assert.equal(q.statsNow().depth, 99, 'the records stay queued, nothing is served altered');
      assert.equal(q.writable(), false, 'reported unhealthy');
      await q.close();
    } finally {
      await removeDir(dir);
    }
  });
});
