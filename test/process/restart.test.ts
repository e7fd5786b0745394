/** Restart persistence and SIGTERM drain of the built server. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeEvent, makeEvents } from '../helpers/events.js';
import { allEvents, getJson, postJson, stats, waitIdle } from '../helpers/http.js';
import { spawnServer, type SpawnedServer } from '../helpers/server.js';
import { makeDataDir, removeDir } from '../helpers/tmp.js';

async function withServer(
  env: Record<string, string>,
  body: (start: () => Promise<SpawnedServer>) => Promise<void>,
): Promise<void> {
  const dataDir = await makeDataDir();
  const started: SpawnedServer[] = [];
  try {
    await body(async () => {
      const s = await spawnServer({ ...env, DATA_DIR: dataDir });
      started.push(s);
      return s;
    });
  } finally {
    for (const s of started) await s.kill('SIGKILL');
    await removeDir(dataDir);
  }
}

void describe('restart on the same DATA_DIR', () => {
  void it('counts a re-sent event as a duplicate after restart, with counters kept', async () => {
    await withServer({}, async (start) => {
      const first = await start();
      const events = makeEvents(100, { topic: 'persist' });
      const old = makeEvent({ topic: 'persist', payload: { original: true } });
      assert.equal((await postJson(`${first.url}/publish`, [...events, old, old])).status, 202);
      const before = await waitIdle(first.url);
      assert.deepEqual(
        [before.received, before.unique_processed, before.duplicate_dropped],
        [102, 101, 1],
      );
      const exit = await first.kill('SIGTERM');
      assert.equal(exit.code, 0, first.stderr());

      const second = await start();
      const after = await stats(second.url);
      assert.deepEqual(
        [after.received, after.unique_processed, after.duplicate_dropped, after.queue_depth],
        [102, 101, 1, 0],
        'lifetime counters survived the restart',
      );
      assert.deepEqual(after.topics, ['persist']);

      const resent = { ...old, payload: { original: false } };
      assert.equal((await postJson(`${second.url}/publish`, resent)).status, 202);
      const end = await waitIdle(second.url);
      assert.equal(end.unique_processed, 101);
      assert.equal(end.duplicate_dropped, 2, 'the re-sent event is a duplicate');
      assert.equal(end.received, 103);
      const got = await getJson<{ payload: unknown }>(
        `${second.url}/events/persist/${old.event_id}`,
      );
      assert.deepEqual(got.body.payload, { original: true }, 'the first stored copy is kept');
      assert.equal((await allEvents(second.url)).length, 101);
    });
  });

  void it('drains queued events at SIGTERM and exits 0, leaving nothing queued', async () => {
    await withServer({ WORKERS: '1', BATCH_MAX: '100' }, async (start) => {
      const first = await start();
      const events = makeEvents(8_000, { topic: 'drain' });
      assert.equal((await postJson(`${first.url}/publish`, events)).status, 202);
      const exit = await first.kill('SIGTERM');
      assert.equal(exit.code, 0, first.stderr());

      const second = await start();
      const s = await stats(second.url);
      assert.deepEqual(
        [s.received, s.unique_processed, s.duplicate_dropped, s.queue_depth],
        [8_000, 8_000, 0, 0],
      );
    });
  });
});
