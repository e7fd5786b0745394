/**
 * The /stats invariant by construction (src/adapters/embedded.ts): once a batch's apply has
 * resolved, its events are counted in the store and gone from the queue depth, however long
 * the consumer takes before its own ack. Before the composition owned this, depth changed
 * only at the consumer's ack, a microtask later: any await the consumer added there (a
 * macrotask's worth, here setImmediate) let /stats count the batch twice. Also: /stats
 * reports a broken invariant of an exact backend (log line + metric) instead of hiding it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { compositionNamed } from '../../src/adapters/registry.js';
import { loadConfig } from '../../src/config.js';
import { startWorkers } from '../../src/consumer/worker.js';
import { invariantHolds } from '../../src/domain/stats.js';
import { createMetrics } from '../../src/metrics.js';
import type { Backend, BackendSnapshot } from '../../src/ports/backend.js';
import { createStatsView } from '../../src/stats-view.js';
import { event } from '../contract/queue.contract.js';
import { makeDataDir, removeDir } from '../helpers/tmp.js';

const log = pino({ level: 'silent' });

async function openEmbedded(dir: string): Promise<Backend> {
  const composition = compositionNamed('embedded');
  assert.ok(composition !== undefined);
  return composition.open(loadConfig([], { DATA_DIR: dir }), { log });
}

const holds = (s: BackendSnapshot): boolean =>
  invariantHolds({
    received: s.queue.received,
    unique_processed: s.counters.unique_processed,
    duplicate_dropped: s.counters.duplicate_dropped,
    queue_depth: s.queue.depth,
  });

void describe('embedded /stats invariant', () => {
  void it('holds between an applied batch and a late ack', async () => {
    const dir = await makeDataDir('logsieve-invariant');
    const backend = await openEmbedded(dir);
    try {
      const { queue, store } = backend;
      const events = Array.from({ length: 30 }, () => event({ topic: 'inv' }));
      await queue.enqueue([...events, ...events.slice(0, 10)]);
      const lease = await queue.take(25, AbortSignal.timeout(5_000));
      assert.ok(lease !== null && lease.deliveries.length === 25);
      await store.apply(lease.deliveries, new Date());
      // A consumer that awaits something real before its ack.
      await new Promise((resolve) => setImmediate(resolve));
      const between = await backend.snapshot(10);
      assert.ok(holds(between), JSON.stringify(between));
      assert.deepEqual(between.queue, { received: 40, depth: 15 });
      await queue.ack(lease);
      assert.deepEqual((await backend.snapshot(10)).queue, { received: 40, depth: 15 });
    } finally {
      await backend.close();
      await removeDir(dir);
    }
  });

  void it('holds at every commit point of the real consumer loop', async () => {
    const dir = await makeDataDir('logsieve-invariant');
    const backend = await openEmbedded(dir);
    try {
      const samples: Promise<BackendSnapshot>[] = [];
      const workers = startWorkers({
        queue: backend.queue,
        store: backend.store,
        log,
        count: 2,
        batchMax: 13,
        // Between the store commit and the queue ack: the widest gap there is.
        afterCommit: () => samples.push(backend.snapshot(10)),
      });
      const unique = Array.from({ length: 200 }, () => event({ topic: 'inv-loop' }));
      for (let i = 0; i < unique.length; i += 20) {
        await backend.queue.enqueue(unique.slice(i, i + 20));
        await backend.queue.enqueue(unique.slice(i, i + 5));
      }
      backend.queue.stopIntake();
      await workers.done;
      assert.ok(samples.length > 0);
      for (const s of await Promise.all(samples)) assert.ok(holds(s), JSON.stringify(s));
      const end = await backend.snapshot(10);
      assert.deepEqual(end.queue, { received: 250, depth: 0 });
      assert.equal(end.counters.unique_processed, 200);
      assert.equal(end.counters.duplicate_dropped, 50);
    } finally {
      await backend.close();
      await removeDir(dir);
    }
  });
});

void describe('/stats on a broken invariant', () => {
  const counters = {
    unique_processed: 5,
    duplicate_dropped: 1,
    stored: 5,
    expired: 0,
    stored_bytes: 100,
  };
  const snapshot: BackendSnapshot = {
    queue: { received: 7, depth: 0 },
    counters,
    topics: ['t'],
    topicsTotal: 1,
  };
  const view = (exact: boolean, logLines: string[]) => {
    const metrics = createMetrics(
      () => Promise.resolve(0),
      () => Promise.resolve(counters),
    );
    const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
    return {
      metrics,
      stats: createStatsView({
        backend: { mode: 'test', exact, snapshot: () => Promise.resolve(snapshot) },
        config: loadConfig([], {}),
        intake: { accepting: true, rejected: 0 },
        consumes: true,
        startedAt: new Date(),
        now: () => new Date(),
        log: logger,
        metrics,
      }),
    };
  };

  void it('an exact backend: answers the counters as read, logs an error and counts it', async () => {
    const lines: string[] = [];
    const { metrics, stats } = view(true, lines);
    const s = await stats();
    assert.equal(s.received, 7, 'never adjusted');
    assert.equal(lines.length, 1);
    assert.match(lines[0] ?? '', /stats invariant broken/);
    assert.match(await metrics.registry.metrics(), /logsieve_stats_invariant_mismatch_total 1\b/);
  });

  void it('a backend that is not exact (cluster, busy): no report', async () => {
    const lines: string[] = [];
    const { metrics, stats } = view(false, lines);
    await stats();
    assert.equal(lines.length, 0);
    assert.match(await metrics.registry.metrics(), /logsieve_stats_invariant_mismatch_total 0\b/);
  });
});
