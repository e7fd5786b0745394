/**
 * A full disk, for real: the built server runs with DATA_DIR on a small tmpfs that the test
 * mounts (root only; skipped loudly otherwise) and fills with a ballast file.
 *
 * - While full, /publish answers 503 with Retry-After, and nothing of a refused request is
 *   stored or counted, not even after a restart (a short write is cut, not left on disk).
 * - Once space is free, intake resumes by itself within seconds, without a restart.
 * - The failure is logged at a bounded rate, not once (with a stack trace) per request.
 * - SQLite failing to write (SQLITE_FULL) keeps the events queued and resumes the same way.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, open, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeEvent, type TestEvent } from '../helpers/events.js';
import { postJson, stats, waitIdle } from '../helpers/http.js';
import { spawnServer, type SpawnedServer } from '../helpers/server.js';
import { sleep } from '../helpers/tmp.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) {
  console.warn('SKIPPED: full-disk tests need root to mount a tmpfs (CI runs them as root)');
}

/** Writes zeros to `path` until the filesystem refuses (ENOSPC); returns the bytes written. */
async function fillDisk(path: string): Promise<number> {
  const handle = await open(path, 'a');
  const chunk = Buffer.alloc(64 * 1024);
  let written = 0;
  try {
    for (;;) {
      try {
        const { bytesWritten } = await handle.write(chunk);
        written += bytesWritten;
        if (bytesWritten < chunk.length) break;
      } catch (err) {
        if ((err as { code?: string }).code === 'ENOSPC') break;
        throw err;
      }
    }
  } finally {
    await handle.close();
  }
  return written;
}

const batch = (label: string, n: number): TestEvent[] =>
  Array.from({ length: n }, (_, i) =>
    makeEvent({ topic: 'disk', event_id: `${label}-${i}`, payload: { pad: 'p'.repeat(2_000) } }),
  );

async function status(url: string, topic: string, id: string): Promise<number> {
  return (await fetch(`${url}/events/${topic}/${encodeURIComponent(id)}`)).status;
}

void describe('a full disk', { skip: isRoot ? false : 'needs root to mount a tmpfs' }, () => {
  let mount: string;
  before(async () => {
    mount = await mkdtemp(join(tmpdir(), 'logsieve-tmpfs-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mount]);
  });
  after(async () => {
    execFileSync('umount', ['-l', mount]);
    await rmdir(mount);
  });

  void it('answers 503 + Retry-After while full, stores none of it, and resumes by itself', async () => {
    const dataDir = join(mount, 'intake');
    const ballast = join(mount, 'intake-ballast');
    let server: SpawnedServer = await spawnServer({ DATA_DIR: dataDir, LOG_LEVEL: 'info' });
    try {
      const accepted: TestEvent[] = [];
      const first = batch('before', 10);
      assert.equal((await postJson(`${server.url}/publish`, first)).status, 202);
      accepted.push(...first);
      await waitIdle(server.url);

      await fillDisk(ballast);
      const refused: TestEvent[] = [];
      let sawRetryAfter = 0;
      for (let r = 0; r < 30; r++) {
        const events = batch(`full${r}`, 20);
        const res = await postJson<{ error: string }>(`${server.url}/publish`, events);
        if (res.status === 202) {
          accepted.push(...events); // it fitted in the last page of a file
          continue;
        }
        assert.equal(res.status, 503, JSON.stringify(res.body));
        if (Number(res.headers.get('retry-after')) > 0) sawRetryAfter++;
        refused.push(...events);
      }
      assert.ok(refused.length >= 25 * 20, `most requests refused (${refused.length})`);
      assert.equal(sawRetryAfter * 20, refused.length, 'every 503 carries Retry-After');
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200, 'alive while full');
      const whileFull = await stats(server.url);
      assert.equal(whileFull.received, accepted.length, 'nothing refused is counted');

      await rm(ballast);
      const freed = Date.now();
      let resumed = false;
      const after1 = batch('after', 10);
      while (!resumed && Date.now() - freed < 15_000) {
        const res = await postJson(`${server.url}/publish`, after1);
        resumed = res.status === 202;
        if (!resumed) await sleep(200);
      }
      assert.ok(resumed, 'intake resumed without a restart');
      accepted.push(...after1);
      const idle = await waitIdle(server.url, 30_000);
      assert.equal(idle.received, accepted.length);
      assert.equal(idle.unique_processed, accepted.length);

      const logged = (server.stdout() + server.stderr())
        .split('\n')
        .filter((l) => l.includes('queue log write failed'));
      assert.ok(logged.length >= 1, 'the failure is logged');
      assert.ok(logged.length <= 3, `logged at a bounded rate: ${logged.length} lines`);
      assert.ok(!logged.some((l) => l.includes('"stack"')), 'no stack trace per refusal');

      // After a crash and restart, still none of the refused events exists.
      await server.kill('SIGKILL');
      server = await server.restart();
      const s = await waitIdle(server.url);
      assert.equal(s.received, accepted.length, 'no refused event came back after restart');
      assert.equal(s.unique_processed, accepted.length);
      for (const e of refused.filter((_, i) => i % 20 === 0 || i % 20 === 19)) {
        assert.equal(await status(server.url, e.topic, e.event_id), 404, e.event_id);
      }
      for (const e of accepted) assert.equal(await status(server.url, e.topic, e.event_id), 200);
    } finally {
      await server.kill('SIGKILL');
      await rm(ballast, { force: true });
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  void it('keeps events queued while SQLite cannot write, and applies them once space is free', async () => {
    const dataDir = join(mount, 'store');
    const ballast = join(mount, 'store-ballast');
    const server = await spawnServer({ DATA_DIR: dataDir, LOG_LEVEL: 'info' });
    try {
      assert.equal((await postJson(`${server.url}/publish`, batch('warm', 5))).status, 202);
      await waitIdle(server.url);
      await fillDisk(ballast);
      // Free a little: enough for the queue log to take one request, not for SQLite to
      // write it too (its WAL frames the pages of the rows and both indexes).
      const handle = await open(ballast, 'r+');
      const { size } = await handle.stat();
      await handle.truncate(size - 192 * 1024);
      await handle.close();
      const events = batch('stuck', 60);
      const res = await postJson(`${server.url}/publish`, events);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      await sleep(2_000);
      const stuck = await stats(server.url);
      assert.equal(stuck.received, 65);
      assert.ok(stuck.queue_depth > 0, 'the store could not write: events stay queued');
      assert.equal(
        stuck.received,
        stuck.unique_processed + stuck.duplicate_dropped + stuck.queue_depth,
      );
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);

      await rm(ballast);
      const s = await waitIdle(server.url, 15_000);
      assert.equal(s.unique_processed, 65, 'applied once space was free, without a restart');
      for (const e of events) assert.equal(await status(server.url, e.topic, e.event_id), 200);
      const logged = (server.stdout() + server.stderr())
        .split('\n')
        .filter((l) => l.includes('store apply failed'));
      assert.ok(logged.length >= 1 && logged.length <= 4, `bounded: ${logged.length} lines`);
    } finally {
      await server.kill('SIGKILL');
      await rm(ballast, { force: true });
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
