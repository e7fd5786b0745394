/**
 * The queue log's zero-filled runway (writer.ts): while a segment is written, the bytes just
 * ahead of its end are already allocated and durable, so a small O_DSYNC append overwrites
 * blocks instead of growing the file. These tests pin what that must not change: a clean
 * close leaves exactly the records on disk, a crash with the runway in place recovers every
 * acknowledged record without calling it damage, a closed segment never keeps a zero tail,
 * and a crash's hole is still cut.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { openLogQueue, type LogQueue } from '../../src/adapters/log/queue.js';
import { salvageQueueLog } from '../../src/adapters/log/salvage.js';
import { makeDataDir, removeDir, sleep } from '../helpers/tmp.js';
import { drainIds, frame, logEvent as ev } from '../helpers/log-queue.js';

/** A logger whose lines the test can read. */
function capture(): { log: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: pino({ level: 'info' }, { write: (s: string) => lines.push(s) }), lines };
}

const open = (dir: string, log: pino.Logger, segmentBytes?: number): Promise<LogQueue> =>
  openLogQueue({
    dir,
    queueMax: 10_000,
    log,
    isApplied: () => false,
    ...(segmentBytes === undefined ? {} : { segmentBytes }),
  });

const segments = async (dir: string): Promise<string[]> =>
  (await readdir(dir)).filter((n) => n.endsWith('.log')).sort();

/** Index after the last non-NUL byte. */
function dataEnd(buf: Buffer): number {
  let end = buf.length;
  while (end > 0 && buf[end - 1] === 0) end--;
  return end;
}

/** Waits (bounded) until the active segment holds zeros after its records. */
async function runwayIn(file: string): Promise<Buffer> {
  for (let i = 0; i < 200; i++) {
    const bytes = await readFile(file);
    if (bytes.length > dataEnd(bytes)) return bytes;
    await sleep(10);
  }
  assert.fail(`no zero-filled runway appeared after the records of ${file}`);
}

void describe('queue log runway', () => {
  void it('is zero-filled ahead of the records while open and gone after a clean close', async () => {
    const dir = await makeDataDir('logsieve-runway');
    try {
      const { log, lines } = capture();
      const q = await open(dir, log);
      for (let i = 0; i < 5; i++) await q.enqueue([ev(i)]);
      const file = join(dir, (await segments(dir))[0] ?? '');
      const live = await runwayIn(file);
      assert.equal(live[dataEnd(live) - 1], 0x0a, 'the records end with a whole line');
      await q.close();
      const closed = await readFile(file);
      assert.equal(closed.length, dataEnd(live), 'a clean close leaves only the records');
      assert.equal(closed[closed.length - 1], 0x0a);

      const again = await open(dir, log);
      assert.deepEqual(again.statsNow(), { received: 5, depth: 5 });
      await again.close();
      assert.ok(!lines.some((l) => l.includes('cutting')), lines.join(''));
    } finally {
      await removeDir(dir);
    }
  });

  void it('recovers every record after a crash with the runway in place, without a warning', async () => {
    const dir = await makeDataDir('logsieve-runway');
    const crashed = await makeDataDir('logsieve-runway-crash');
    try {
      const q = await open(dir, pino({ level: 'silent' }));
      for (let i = 0; i < 3; i++) await q.enqueue([ev(i)]);
      const name = (await segments(dir))[0] ?? '';
      // The file as a SIGKILL would leave it: records, then the runway's zeros.
      const live = await runwayIn(join(dir, name));
      await writeFile(join(crashed, name), live);
      await q.close();

      const { log, lines } = capture();
      const again = await open(crashed, log);
      assert.deepEqual(again.statsNow(), { received: 3, depth: 3 });
      assert.deepEqual(await again.enqueue([ev(3)]), ['4'], 'appended after the last record');
      await again.close();
      assert.ok(
        !lines.some((l) => l.includes('cutting unacknowledged')),
        `zeros are not unacknowledged writes: ${lines.join('')}`,
      );
      const reopened = await open(crashed, log);
      assert.deepEqual(await drainIds(reopened), ['e0', 'e1', 'e2', 'e3']);
      await reopened.close();

      // `logsieve recover` sees no damage in it either.
      const report = await salvageQueueLog(
        crashed,
        { isApplied: () => false, maxAppliedSeq: () => 0 },
        new Date(),
      );
      assert.equal(report.segments.length, 0);
    } finally {
      await removeDir(dir);
      await removeDir(crashed);
    }
  });

  void it('still cuts a hole left by a crash when the runway follows the later write', async () => {
    const dir = await makeDataDir('logsieve-runway');
    const crashed = await makeDataDir('logsieve-runway-crash');
    try {
      const q = await open(dir, pino({ level: 'silent' }));
      for (let i = 0; i < 2; i++) await q.enqueue([ev(i)]);
      const name = (await segments(dir))[0] ?? '';
      const live = await runwayIn(join(dir, name));
      await q.close();
      const end = dataEnd(live);
      // Two writes in flight: the earlier never landed (NULs), the later did, and the
      // runway's zeros lie after it.
      const later = frame(`[5,"t","e-late","2025-10-24T00:00:00.000Z","s",{}]\n`);
      const zeros = live.length - end;
      await writeFile(
        join(crashed, name),
        Buffer.concat([live.subarray(0, end), Buffer.alloc(120), later, Buffer.alloc(zeros)]),
      );
      const again = await open(crashed, pino({ level: 'silent' }));
      assert.deepEqual(again.statsNow(), { received: 2, depth: 2 });
      assert.deepEqual(await again.enqueue([ev(7)]), ['3']);
      await again.close();
      assert.equal((await stat(join(crashed, name))).size > end, true);
      const reopened = await open(crashed, pino({ level: 'silent' }));
      assert.deepEqual(await drainIds(reopened), ['e0', 'e1', 'e7']);
      await reopened.close();
    } finally {
      await removeDir(dir);
      await removeDir(crashed);
    }
  });

  void it('leaves no zero tail on a segment once the writer has moved to the next', async () => {
    const dir = await makeDataDir('logsieve-runway');
    const crashed = await makeDataDir('logsieve-runway-crash');
    try {
      const q = await open(dir, pino({ level: 'silent' }), 400);
      for (let i = 0; i < 12; i++) await q.enqueue([ev(i)]);
      const names = await segments(dir);
      assert.ok(names.length >= 3, `rotated: ${names.join(',')}`);
      // Read while the queue is open, as a crash would leave them.
      for (const name of names.slice(0, -1)) {
        const bytes = await readFile(join(dir, name));
        assert.equal(bytes.length, dataEnd(bytes), `${name} ends with its records`);
        await writeFile(join(crashed, name), bytes);
      }
      const last = names.at(-1) ?? '';
      await writeFile(join(crashed, last), await readFile(join(dir, last)));
      await q.close();
      await mkdir(crashed, { recursive: true });
      const again = await open(crashed, pino({ level: 'silent' }), 400);
      assert.deepEqual(again.statsNow(), { received: 12, depth: 12 });
      assert.deepEqual(
        await drainIds(again),
        Array.from({ length: 12 }, (_, i) => `e${i}`),
      );
      await again.close();
    } finally {
      await removeDir(dir);
      await removeDir(crashed);
    }
  });
});
