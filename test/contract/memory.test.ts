/**
 * The in-memory queue (src/adapters/memory/queue.ts) against the shared queue contract: the
 * proof that a queue adapter written only under adapters/ meets the port. It has no reopen
 * (nothing survives a restart), so the restart test skips for it. Then the same queue feeds
 * the real consumer loop and SQLite store, as the app would wire them.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { openMemoryQueue } from '../../src/adapters/memory/queue.js';
import { openSqliteStore } from '../../src/adapters/sqlite/store.js';
import { startWorkers } from '../../src/consumer/worker.js';
import { makeDataDir, removeDir } from '../helpers/tmp.js';
import { event, runQueueContract } from './queue.contract.js';

runQueueContract('in-memory', ({ queueMax }) => {
  const queue = openMemoryQueue({ queueMax });
  return Promise.resolve({ queue, cleanup: () => queue.close() });
});

void describe('in-memory queue with the SQLite store and the real consumer', () => {
  void it('every event is applied once and the invariant holds, also for a new queue on the same store when it starts past the applied ids', async () => {
    const dir = await makeDataDir('logsieve-memory');
    const store = openSqliteStore({ file: join(dir, 'events.db') });
    const log = pino({ level: 'silent' });
    try {
      // Two lives of the queue over one store: the second must start after every id the
      // store applied, or the store would take its deliveries for redeliveries and drop them.
      for (const life of [1, 2]) {
        const queue = openMemoryQueue({ queueMax: 10_000, firstSeq: store.maxAppliedSeq() + 1 });
        const workers = startWorkers({ queue, store, log, count: 2, batchMax: 7 });
        const unique = Array.from({ length: 50 }, () => event({ topic: `life-${life}` }));
        await queue.enqueue(unique);
        await queue.enqueue(unique.slice(0, 20));
        queue.stopIntake();
        await workers.done;
        const q = await queue.stats();
        const c = await store.counters();
        assert.deepEqual(q, { received: 70, depth: 0 });
        assert.deepEqual(
          { unique_processed: c.unique_processed, duplicate_dropped: c.duplicate_dropped },
          { unique_processed: 50 * life, duplicate_dropped: 20 * life },
        );
        await queue.close();
      }
    } finally {
      await store.close();
      await removeDir(dir);
    }
  });
});
