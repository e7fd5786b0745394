/**
 * SIGKILL during expiry (embedded mode, the built server): an expiry step is one transaction
 * with its counter changes, so a kill inside it (injected between the deletes and the
 * commit) or at any moment while expiry runs under load leaves the counters exact, keeps
 * every event that should be kept, and never forgets a key: every acknowledged event is
 * still either retained or a duplicate when it is sent again.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventBytes } from '../../src/domain/retention.js';
import { keyOf, makeEvent, type TestEvent } from '../helpers/events.js';
import { allEvents, postJson, stats, waitIdle, type StatsBody } from '../helpers/http.js';
import { RecordingLoad } from '../helpers/load.js';
import { launch, spawnServer, type SpawnedServer } from '../helpers/server.js';
import { freePort, makeDataDir, removeDir, sleep } from '../helpers/tmp.js';

interface RetentionStats extends StatsBody {
  readonly stored: number;
  readonly expired: number;
  readonly stored_bytes: number;
}

interface WaitResult {
  readonly results: { topic: string; event_id: string; status: string }[];
}

/** unique = stored + expired, stored = the rows /events returns, the stats invariant. */
async function assertExact(url: string): Promise<RetentionStats> {
  const s = (await waitIdle(url, 60_000)) as RetentionStats;
  const rows = await allEvents(url);
  assert.equal(s.stored, rows.length, 'stored = what /events returns');
  assert.equal(s.unique_processed, s.stored + s.expired, 'unique_processed = stored + expired');
  assert.equal(s.received, s.unique_processed + s.duplicate_dropped + s.queue_depth);
  assert.equal(new Set(rows.map(keyOf)).size, rows.length, 'a key stored twice');
  return s;
}

/** Re-sends every event (in requests of 1,000): none may be stored anew (nothing lost). */
async function assertAllKnown(url: string, events: readonly TestEvent[]): Promise<void> {
  const unique = [...new Map(events.map((e) => [keyOf(e), e])).values()];
  for (let i = 0; i < unique.length; i += 1_000) {
    const r = await postJson<WaitResult>(`${url}/publish?wait=true`, unique.slice(i, i + 1_000));
    assert.equal(r.status, 200);
    const stored = r.body.results.filter((x) => x.status !== 'duplicate');
    assert.deepEqual(stored, [], 'an acknowledged event was forgotten');
  }
}

const wireBytes = (e: TestEvent): number =>
  eventBytes({ ...e, timestamp: '2025-10-24T00:00:00.000Z', payload: JSON.stringify(e.payload) });

void describe('SIGKILL during expiry', () => {
  void it('a kill inside an expiry step rolls the whole step back; the next start finishes it exactly', async () => {
    const dataDir = await makeDataDir();
    const events = Array.from({ length: 3_000 }, (_, i) =>
      makeEvent({
        topic: ['a', 'b', 'c'][i % 3] as string,
        event_id: `k-${String(i).padStart(6, '0')}`,
      }),
    );
    const bound = events.slice(-1_000).reduce((n, e) => n + wireBytes(e), 0);
    let server: SpawnedServer | null = await spawnServer({ DATA_DIR: dataDir });
    try {
      for (let i = 0; i < events.length; i += 1_000) {
        const url: string = server.url;
        const r = await postJson(`${url}/publish?wait=true`, events.slice(i, i + 1_000));
        assert.equal(r.status, 200);
      }
      await server.kill('SIGTERM');
      server = null;

      // With retention on and the fault armed, the first expiry step kills the process.
      const port = await freePort();
      const killed = launch({
        DATA_DIR: dataDir,
        PORT: String(port),
        RETENTION_MAX_BYTES: String(bound),
        FAULT_DURING_EXPIRY: 'kill',
      });
      const exit = await Promise.race([killed.exited, sleep(30_000).then(() => null)]);
      if (exit === null) killed.child.kill('SIGKILL');
      // Only the injected fault can SIGKILL it (a healthy start would run until killed).
      assert.equal(exit?.signal, 'SIGKILL', killed.stderr());

      // Nothing of the killed step is left: no row gone, no counter moved.
      server = await spawnServer({ DATA_DIR: dataDir });
      const untouched = (await stats(server.url)) as RetentionStats;
      assert.equal(untouched.expired, 0);
      assert.equal(untouched.stored, events.length);
      assert.equal((await allEvents(server.url)).length, events.length);
      await server.kill('SIGTERM');

      // Without the fault, expiry completes: exactly the newest events that fit are kept.
      server = await spawnServer({ DATA_DIR: dataDir, RETENTION_MAX_BYTES: String(bound) });
      for (let i = 0; i < 400; i++) {
        if (((await stats(server.url)) as RetentionStats).stored_bytes <= bound) break;
        await sleep(50);
      }
      const s = await assertExact(server.url);
      assert.equal(s.stored_bytes, bound);
      assert.equal(s.stored, 1_000);
      assert.equal(s.expired, 2_000);
      const rows = await allEvents(server.url);
      assert.deepEqual(
        rows.map((r) => r.event_id),
        events.slice(-1_000).map((e) => e.event_id),
      );
      await assertAllKnown(server.url, events);
    } finally {
      await server?.kill('SIGKILL');
      await removeDir(dataDir);
    }
  });

  void it('kills at random moments while expiry runs under load keep counters exact and every acked event known', async () => {
    const dataDir = await makeDataDir();
    const env = { DATA_DIR: dataDir, RETENTION_MAX_AGE: '1s', WORKERS: '2', BATCH_MAX: '500' };
    // Checks run on a start without retention: with expiry running, /stats and a walk of
    // /events would not be from one instant.
    const checkEnv = { DATA_DIR: dataDir };
    let server = await spawnServer(env);
    const load = new RecordingLoad({ seed: 7, run: 'exp' });
    try {
      for (let cycle = 0; cycle < 3; cycle++) {
        let stop = false;
        const url = server.url;
        const publishers = Array.from({ length: 3 }, () => load.publisher(url, () => stop));
        // Long enough for events to pass the 1 s age and for expiry to run steps.
        const runFor = 1_200 + Math.floor(Math.random() * 800);
        const started = Date.now();
        while (Date.now() - started < runFor) await sleep(25);
        const exit = await server.kill('SIGKILL');
        stop = true;
        await Promise.all(publishers);
        assert.equal(exit.signal, 'SIGKILL');
        server = await spawnServer(checkEnv);
        await assertExact(server.url);
        await server.kill('SIGTERM');
        server = await spawnServer(env);
      }
      await server.kill('SIGTERM');
      server = await spawnServer(checkEnv);
      assert.ok(load.ackedRequests() > 0, 'the load got some 202s');
      const s = await assertExact(server.url);
      assert.ok(s.expired > 0, 'expiry ran during the load');
      await assertAllKnown(server.url, load.ackedEvents());
    } finally {
      await server.kill('SIGKILL');
      await removeDir(dataDir);
    }
  });
});
