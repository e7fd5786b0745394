/**
 * THE crash test: SIGKILL the built server while it is loaded (and right after a burst),
 * restart it on the same DATA_DIR, and prove that every event of every acknowledged request
 * is stored exactly once and the stats invariant holds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keyOf, type TestEvent } from '../helpers/events.js';
import { allEvents, stats, waitIdle } from '../helpers/http.js';
import { RecordingLoad } from '../helpers/load.js';
import { spawnServer, type SpawnedServer } from '../helpers/server.js';
import { makeDataDir, removeDir, sleep } from '../helpers/tmp.js';

/** After a restart: acked events stored once, nothing invented, counters exact. */
async function assertRecovered(server: SpawnedServer, load: RecordingLoad): Promise<void> {
  const first = await stats(server.url);
  assert.equal(
    first.received,
    first.unique_processed + first.duplicate_dropped + first.queue_depth,
    'the invariant holds from the first /stats after restart',
  );
  const s = await waitIdle(server.url, 60_000);
  const rows = await allEvents(server.url);
  const stored = new Map<string, (typeof rows)[number]>();
  for (const r of rows) {
    assert.ok(!stored.has(keyOf(r)), `${keyOf(r)} is stored twice`);
    stored.set(keyOf(r), r);
  }
  const sentByKey = new Map<string, TestEvent>(load.sentEvents().map((e) => [keyOf(e), e]));
  const acked = load.ackedEvents();
  assert.ok(acked.length > 0, 'the load got some 202s before the kill');
  for (const e of acked) {
    const row = stored.get(keyOf(e));
    assert.ok(row !== undefined, `acknowledged ${keyOf(e)} was lost`);
    assert.deepEqual(row.payload, e.payload);
  }
  for (const key of stored.keys()) assert.ok(sentByKey.has(key), `${key} was never sent`);

  assert.equal(s.queue_depth, 0);
  assert.equal(s.unique_processed, rows.length, 'unique_processed = rows /events returns');
  assert.equal(s.received, s.unique_processed + s.duplicate_dropped + s.queue_depth);
  assert.ok(s.received >= acked.length, `received ${s.received} < acked ${acked.length}`);
  assert.ok(s.received <= load.sentEvents().length, 'received only what was sent');
  assert.ok(s.unique_processed <= sentByKey.size);
}

async function crashed(server: SpawnedServer): Promise<SpawnedServer> {
  const exit = await server.kill('SIGKILL');
  assert.equal(exit.signal, 'SIGKILL');
  return server.restart();
}

void describe('SIGKILL and restart on the same DATA_DIR', () => {
  void it('loses no acknowledged event when killed mid-load, and counts each once', async () => {
    const dataDir = await makeDataDir();
    let server = await spawnServer({ DATA_DIR: dataDir, WORKERS: '2', BATCH_MAX: '500' });
    try {
      const load = new RecordingLoad({ seed: 1, run: 'mid' });
      const started = Date.now();
      let killed = false;
      const publishers = Array.from({ length: 4 }, () => load.publisher(server.url, () => killed));
      // Kill once the load has run a while and has acknowledgements to check (bounded).
      for (let i = 0; i < 400; i++) {
        if (Date.now() - started > 2_000 && load.ackedRequests() >= 20) break;
        await sleep(10);
      }
      const exit = await server.kill('SIGKILL');
      killed = true;
      await Promise.all(publishers);
      assert.equal(exit.signal, 'SIGKILL');
      server = await server.restart();
      await assertRecovered(server, load);

      // Once recovered, the old events are still duplicates.
      const again = load.ackedEvents().slice(0, 50);
      const before = await waitIdle(server.url);
      assert.ok(await load.send(server.url, again));
      const after = await waitIdle(server.url);
      assert.equal(after.duplicate_dropped, before.duplicate_dropped + again.length);
      assert.equal(after.unique_processed, before.unique_processed);
    } finally {
      await server.kill('SIGKILL');
      await removeDir(dataDir);
    }
  });

  void it('drains at SIGTERM mid-load: exit 0, every acked event stored once, nothing queued', async () => {
    const dataDir = await makeDataDir();
    let server = await spawnServer({ DATA_DIR: dataDir, WORKERS: '2' });
    try {
      const load = new RecordingLoad({ seed: 3, run: 'term' });
      let stopped = false;
      const publishers = Array.from({ length: 3 }, () => load.publisher(server.url, () => stopped));
      for (let i = 0; i < 400 && load.ackedRequests() < 30; i++) await sleep(10);
      const exit = await server.kill('SIGTERM');
      stopped = true;
      await Promise.all(publishers);
      assert.equal(exit.code, 0, server.stderr());
      server = await server.restart();
      const s = await stats(server.url);
      assert.equal(s.queue_depth, 0, 'the queue was drained before exit');
      await assertRecovered(server, load);
    } finally {
      await server.kill('SIGKILL');
      await removeDir(dataDir);
    }
  });

  void it('loses nothing when killed right after a burst, twice in a row', async () => {
    const dataDir = await makeDataDir();
    let server = await spawnServer({ DATA_DIR: dataDir, WORKERS: '2', BATCH_MAX: '200' });
    try {
      const load = new RecordingLoad({ seed: 2, run: 'burst' });
      for (let cycle = 0; cycle < 2; cycle++) {
        const url = server.url;
        const batches = Array.from({ length: 8 }, () => load.nextBatch(1_000));
        const ok = await Promise.all(batches.map((b) => load.send(url, b)));
        assert.ok(ok.every(Boolean));
        assert.equal(load.ackedRequests(), load.requests.length, 'every burst request got 202');
        server = await crashed(server);
        await assertRecovered(server, load);
        const s = await waitIdle(server.url);
        assert.equal(s.received, load.sentEvents().length, 'every acked event received once');
        assert.equal(s.unique_processed, new Set(load.sentEvents().map(keyOf)).size);
      }
    } finally {
      await server.kill('SIGKILL');
      await removeDir(dataDir);
    }
  });
});
