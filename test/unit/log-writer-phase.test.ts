/**
 * One write per I/O phase (writer.ts, PHASE_GROUP_BYTES): appends smaller than that wait for
 * the end of the event-loop phase that made them and are then written together, in one
 * frame. These tests pin what that must keep: every append made in one turn of the event
 * loop shares one write; a close that comes before that write has started still writes
 * every accepted append before the file closes; a large group still starts at once, and the
 * records keep their order across both paths.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { FRAME_MARK, HEADER_BYTES } from '../../src/adapters/log/frame.js';
import { openLogQueue, type LogQueue } from '../../src/adapters/log/queue.js';
import { makeDataDir, removeDir } from '../helpers/tmp.js';
import { drainIds, logEvent as ev } from '../helpers/log-queue.js';

const open = (dir: string): Promise<LogQueue> =>
  openLogQueue({ dir, queueMax: 10_000, log: pino({ level: 'silent' }), isApplied: () => false });

/** Body lengths of the frames of the one segment in `dir`, in file order (zeros after them ignored). */
async function frames(dir: string): Promise<number[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.log'));
  assert.equal(names.length, 1);
  const buf = await readFile(join(dir, names[0] as string));
  const out: number[] = [];
  let pos = 0;
  while (pos < buf.length && buf[pos] === FRAME_MARK) {
    const len = parseInt(buf.toString('latin1', pos + 1, pos + 9), 16);
    out.push(len);
    pos += HEADER_BYTES + len;
  }
  for (let i = pos; i < buf.length; i++) assert.equal(buf[i], 0, `byte ${i} after the frames`);
  return out;
}

/**
 * One event (`e-1`) written and durable. Once it has landed, so has the runway's first zero
 * write (a data write never overlaps one in flight, writer.ts), which would otherwise hold
 * back, and so group, whatever the test appends next.
 */
const landed = (q: LogQueue): Promise<unknown> => q.enqueue([ev(-1)]);

void describe('queue log writer, small groups', () => {
  void it('writes every append made in one turn of the event loop in one frame', async () => {
    const dir = await makeDataDir('phase-group');
    try {
      const q = await open(dir);
      await landed(q);
      // 20 single-event requests read in one I/O phase: started at once, each would get a
      // write of its own (two in flight, then the rest): three frames.
      await Promise.all(Array.from({ length: 20 }, (_, i) => q.enqueue([ev(i)])));
      await q.close();
      assert.equal((await frames(dir)).length, 2);
      const again = await open(dir);
      assert.deepEqual(await drainIds(again), [
        'e-1',
        ...Array.from({ length: 20 }, (_, i) => `e${i}`),
      ]);
      await again.close();
    } finally {
      await removeDir(dir);
    }
  });

  void it('writes appends still waiting for their turn when the queue closes', async () => {
    const dir = await makeDataDir('phase-close');
    try {
      const q = await open(dir);
      await landed(q);
      let settled = 0;
      const accepted = Array.from({ length: 5 }, (_, i) =>
        q.enqueue([ev(i)]).finally(() => settled++),
      );
      // Before the end of this turn, so before the scheduled write has started.
      await q.close();
      // Written and answered before the close ended, not by a write still running after it.
      assert.equal(settled, 5);
      assert.equal((await frames(dir)).length, 2);
      await Promise.all(accepted);
      const again = await open(dir);
      assert.deepEqual(await drainIds(again), ['e-1', 'e0', 'e1', 'e2', 'e3', 'e4']);
      await again.close();
    } finally {
      await removeDir(dir);
    }
  });

  void it('starts a large group at once and keeps file order with the small ones around it', async () => {
    const dir = await makeDataDir('phase-large');
    try {
      const q = await open(dir);
      await landed(q);
      // 300 events of ~330 bytes: ~100 KB, past PHASE_GROUP_BYTES (16 KiB).
      const large = Array.from({ length: 300 }, (_, i) => ev(1000 + i, 260));
      await Promise.all([
        q.enqueue([ev(1)]),
        q.enqueue(large),
        q.enqueue([ev(2)]),
        q.enqueue([ev(3)]),
      ]);
      await q.close();
      const sizes = await frames(dir);
      // The small append before it joins the large write; the two after it share the next.
      assert.equal(sizes.length, 3);
      assert.ok((sizes[1] as number) > 16 * 1024, `second frame ${sizes[1]} bytes`);
      const again = await open(dir);
      assert.deepEqual(await drainIds(again), [
        'e-1',
        'e1',
        ...large.map((e) => e.event_id),
        'e2',
        'e3',
      ]);
      await again.close();
    } finally {
      await removeDir(dir);
    }
  });
});
