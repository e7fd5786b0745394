/**
 * SIGKILL inside a PostgreSQL expiry drop (the built server in cluster mode): the DROP of a
 * partition and its counter moves are one transaction, so a kill between them (injected
 * with FAULT_DURING_EXPIRY=kill) leaves every row and every counter as it was; the next
 * start drops the partitions that are due, the counters stay exact, and every key is kept.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openPostgresStore } from '../../src/adapters/postgres/store.js';
import { eventBytes } from '../../src/domain/retention.js';
import { keyOf, makeEvent } from '../helpers/events.js';
import { allEvents, postJson, stats, waitIdle, type StatsBody } from '../helpers/http.js';
import { launch, spawnServer, type SpawnedServer } from '../helpers/server.js';
import { freePort, makeDataDir, removeDir, sleep } from '../helpers/tmp.js';
import {
  DATABASE_URL,
  REDIS_URL,
  clusterServicesSkipReason,
  dropPostgresSchema,
  dropRedisNamespace,
  randomNamespace,
} from './services.js';

const skip = await clusterServicesSkipReason();

interface RetentionStats extends StatsBody {
  readonly stored: number;
  readonly expired: number;
  readonly stored_bytes: number;
}

const SPAN = 100;

void describe('SIGKILL inside a PostgreSQL expiry drop', { skip: skip ?? false }, () => {
  void it('rolls the drop back whole; the next start expires exactly and forgets no key', async () => {
    const namespace = randomNamespace();
    const dataDir = await makeDataDir();
    // Small partitions, fixed when the namespace is created (the span is the schema's).
    const setup = await openPostgresStore({
      url: DATABASE_URL,
      namespace,
      poolMax: 1,
      consumerName: 'setup',
      partitionSpan: SPAN,
    });
    await setup.close();
    const env = {
      QUEUE: 'redis',
      STORE: 'postgres',
      REDIS_URL,
      DATABASE_URL,
      NAMESPACE: namespace,
      CONSUMER_NAME: 'one',
      DATA_DIR: dataDir,
    };
    const events = Array.from({ length: 1_000 }, (_, i) =>
      makeEvent({ topic: `t${i % 4}`, event_id: `pg-${String(i).padStart(5, '0')}` }),
    );
    const size = eventBytes({
      ...(events[0] ?? makeEvent()),
      timestamp: '2025-10-24T00:00:00.000Z',
      payload: JSON.stringify(events[0]?.payload),
    });
    const bound = size * 300;
    let server: SpawnedServer | null = await spawnServer(env);
    try {
      for (let i = 0; i < events.length; i += 250) {
        const url: string = server.url;
        assert.equal((await postJson(`${url}/publish`, events.slice(i, i + 250))).status, 202);
      }
      await waitIdle(server.url, 60_000);
      await server.kill('SIGTERM');
      server = null;

      const killed = launch({
        ...env,
        PORT: String(await freePort()),
        RETENTION_MAX_BYTES: String(bound),
        FAULT_DURING_EXPIRY: 'kill',
      });
      const exit = await Promise.race([killed.exited, sleep(30_000).then(() => null)]);
      if (exit === null) killed.child.kill('SIGKILL');
      assert.equal(exit?.signal, 'SIGKILL', killed.stderr());

      server = await spawnServer(env);
      const untouched = (await waitIdle(server.url)) as RetentionStats;
      assert.equal(untouched.expired, 0, 'the killed drop left no counter change');
      assert.equal(untouched.stored, events.length);
      assert.equal((await allEvents(server.url)).length, events.length, 'no row went');
      await server.kill('SIGTERM');

      server = await spawnServer({ ...env, RETENTION_MAX_BYTES: String(bound) });
      for (let i = 0; i < 400; i++) {
        if (((await stats(server.url)) as RetentionStats).stored_bytes <= bound + size * SPAN) {
          break;
        }
        await sleep(50);
      }
      await server.kill('SIGTERM');
      server = await spawnServer(env); // no expiry running while we check
      const s = (await waitIdle(server.url)) as RetentionStats;
      const rows = await allEvents(server.url);
      assert.ok(s.expired > 0);
      assert.equal(s.stored, rows.length, 'stored = what /events returns');
      assert.equal(s.unique_processed, s.stored + s.expired);
      assert.equal(s.stored_bytes, rows.length * size);
      assert.ok(s.stored_bytes <= bound + size * SPAN, `${s.stored_bytes} over ${bound}`);
      assert.deepEqual(
        rows.map((r) => r.event_id),
        events.slice(events.length - rows.length).map((e) => e.event_id),
        'the newest are kept',
      );
      // Every key is still known: all 1,000 come back as duplicates.
      const before = (await stats(server.url)) as RetentionStats;
      assert.equal((await postJson(`${server.url}/publish`, events)).status, 202);
      const after = (await waitIdle(server.url)) as RetentionStats;
      assert.equal(after.duplicate_dropped, before.duplicate_dropped + events.length);
      assert.equal(after.unique_processed, before.unique_processed);
      assert.equal(new Set(rows.map(keyOf)).size, rows.length);
    } finally {
      await server?.kill('SIGKILL');
      await dropRedisNamespace(REDIS_URL, namespace);
      await dropPostgresSchema(DATABASE_URL, namespace);
      await removeDir(dataDir);
    }
  });
});
