/** The client library against the built server: batching plus retries lose nothing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createPublisher, uuidv7, type PublishEvent } from '../../src/client/index.js';
import { MAIN_JS, spawnServer } from '../helpers/server.js';
import { makeDataDir, removeDir } from '../helpers/tmp.js';

const skip = existsSync(MAIN_JS) ? false : 'dist/src/main.js is not built';

void test(
  'publish() of 10,000 events, 2,000 of them repeated, stores 8,000 once each',
  { skip },
  async () => {
    const dir = await makeDataDir('logsieve-client');
    const server = await spawnServer({ DATA_DIR: dir });
    const p = createPublisher({
      url: server.url,
      maxBatchEvents: 300,
      lingerMs: 5,
      maxInFlight: 6,
    });
    try {
      const originals: PublishEvent[] = Array.from({ length: 8_000 }, (_, i) => ({
        topic: i % 2 === 0 ? 'app/prod/api' : 'login',
        event_id: uuidv7(),
        timestamp: new Date().toISOString(),
        source: 'client-e2e',
        payload: { i, nested: { tags: ['a', 'b'] } },
      }));
      const before = await p.fetchStats();
      // Publish in small calls without awaiting each, as an application would.
      const pending: Promise<void>[] = [];
      for (let i = 0; i < originals.length; i += 100)
        pending.push(p.publish(originals.slice(i, i + 100)));
      for (let i = 0; i < 2_000; i += 100)
        pending.push(p.publish(originals.slice(i * 3, i * 3 + 100)));
      await Promise.all(pending);
      await p.flush();
      let after = await p.fetchStats();
      for (let i = 0; i < 200 && after.queue_depth > 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        after = await p.fetchStats();
      }
      assert.equal(after.received - before.received, 10_000);
      assert.equal(after.unique_processed - before.unique_processed, 8_000);
      assert.equal(after.duplicate_dropped - before.duplicate_dropped, 2_000);
      assert.equal(p.counters().eventsAccepted, 10_000);
    } finally {
      await p.close();
      await server.kill('SIGTERM');
      await removeDir(dir);
    }
  },
);
