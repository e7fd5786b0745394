/**
 * The app served by a composition that only a test fixture registers (MODE=memory:
 * in-memory queue + SQLite store, test/fixtures/memory-backend.ts): publish -> dedup ->
 * /events -> /stats through HTTP, with no edit outside adapters/ and that registration.
 * This is the "serves the app" half of README "Adding a backend"; memory.test.ts is the
 * queue contract half.
 */
import '../fixtures/memory-backend.js';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { invariantHolds } from '../../src/domain/stats.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { makeEvents } from '../helpers/events.js';
import { allEvents, getJson, postJson, stats, waitIdle } from '../helpers/http.js';

void describe('the app on a fixture-registered composition (MODE=memory)', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ MODE: 'memory' });
  });
  after(() => t.close());

  void it('publishes, drops duplicates, serves /events and exact /stats', async () => {
    const unique = makeEvents(40, { topic: 'mem' });
    const first = await postJson(`${t.url}/publish`, unique);
    assert.equal(first.status, 202);
    const again = await postJson(`${t.url}/publish`, unique.slice(0, 15));
    assert.equal(again.status, 202);
    const idle = await waitIdle(t.url);
    assert.equal(idle.mode, 'memory');
    assert.equal(idle.received, 55);
    assert.equal(idle.unique_processed, 40);
    assert.equal(idle.duplicate_dropped, 15);
    assert.ok(invariantHolds(idle));
    assert.deepEqual(idle.topics, ['mem']);

    const rows = await allEvents(t.url, { topic: 'mem' });
    assert.deepEqual(
      rows.map((r) => r.event_id),
      unique.map((e) => e.event_id),
    );
    const one = await getJson<{ event_id: string }>(
      `${t.url}/events/mem/${unique[3]?.event_id ?? ''}`,
    );
    assert.equal(one.status, 200);
    assert.equal(one.body.event_id, unique[3]?.event_id);
    assert.equal(t.duplicateLogs().length, 15);
  });

  void it('answers ?wait=true from its own workers, and every /stats under load is exact', async () => {
    const batch = makeEvents(5, { topic: 'mem-wait' });
    const waited = await postJson<{ results: { status: string }[] }>(`${t.url}/publish?wait=true`, [
      ...batch,
      batch[0],
    ]);
    assert.equal(waited.status, 200);
    assert.deepEqual(
      waited.body.results.map((r) => r.status),
      ['stored', 'stored', 'stored', 'stored', 'stored', 'duplicate'],
    );
    const posts = Array.from({ length: 20 }, () =>
      postJson(`${t.url}/publish`, makeEvents(50, { topic: 'mem-load' })),
    );
    const samples = [];
    for (let i = 0; i < 20; i++) samples.push(await stats(t.url));
    await Promise.all(posts);
    samples.push(await waitIdle(t.url));
    for (const s of samples) assert.ok(invariantHolds(s), JSON.stringify(s));
  });
});
