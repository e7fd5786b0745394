/**
 * PostgreSQL partitions of `events`: apply_batch creates the partition its offsets need;
 * the store's timer job creates the next one ahead once the newest is half full, so applies
 * rarely take the ACCESS EXCLUSIVE lock that creating a partition needs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { pgExpirer } from '../../src/adapters/postgres/expiry.js';
import { LOCK_CLASS, namespaceKey } from '../../src/adapters/postgres/migrations.js';
import { quoteIdent } from '../../src/adapters/postgres/sql.js';
import { openPostgresStore } from '../../src/adapters/postgres/store.js';
import { KEEP_FOREVER } from '../../src/domain/retention.js';
import { deliver, ev } from '../contract/store.contract.js';
import {
  DATABASE_URL,
  clusterServicesSkipReason,
  dropPostgresSchema,
  randomNamespace,
} from './services.js';

const skip = await clusterServicesSkipReason();

void describe('PostgreSQL events partitions', { skip: skip ?? false }, () => {
  void it('an apply creates the partitions it needs, and the next one is created ahead at half full', async () => {
    const namespace = randomNamespace();
    const s = quoteIdent(namespace);
    const store = await openPostgresStore({
      url: DATABASE_URL,
      namespace,
      poolMax: 2,
      consumerName: 'parts',
      partitionSpan: 10,
    });
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
    const partitions = async (): Promise<string[]> =>
      (
        await pool.query<{ r: string }>(
          `SELECT lo || '-' || hi AS r FROM ${s}.event_partitions ORDER BY lo`,
        )
      ).rows.map((x) => x.r);
    try {
      // Offsets 1..13: partitions [0,10) and [10,20), created by the apply itself.
      await store.apply(deliver(Array.from({ length: 13 }, () => ev())), new Date());
      assert.deepEqual(await partitions(), ['0-10', '10-20']);
      const expirer = pgExpirer({
        pool,
        schema: s,
        offsetLock: [LOCK_CLASS.offsets, namespaceKey(namespace)],
        expiryLock: [LOCK_CLASS.expiry, namespaceKey(namespace)],
        shard: 0,
        retention: KEEP_FOREVER,
      });
      await expirer.createAhead(); // 13 < 20 - 5: not yet half full
      assert.deepEqual(await partitions(), ['0-10', '10-20']);
      await store.apply(deliver(Array.from({ length: 3 }, () => ev())), new Date());
      await expirer.createAhead(); // 16 >= 15
      assert.deepEqual(await partitions(), ['0-10', '10-20', '20-30']);
      await expirer.createAhead(); // idempotent
      assert.deepEqual(await partitions(), ['0-10', '10-20', '20-30']);
      const r = await store.apply(deliver(Array.from({ length: 6 }, () => ev())), new Date());
      assert.deepEqual(
        r.items.map((i) => i.offset),
        [17, 18, 19, 20, 21, 22],
      );
      assert.equal((await store.list({ after: 0, limit: 100, order: 'asc' })).length, 22);
    } finally {
      await pool.end();
      await store.close();
      await dropPostgresSchema(DATABASE_URL, namespace);
    }
  });
});
