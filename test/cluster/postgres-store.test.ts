/**
 * PostgreSQL store behaviour beyond the shared contract, with several store instances (one
 * pool each, as several aggregator processes would have) on one schema: offsets a paging
 * reader can trust under concurrent writers, migrations applied once when instances start
 * together, redeliveries recognised across instances, pruning of delivery ids.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { LOCK_CLASS, MIGRATIONS, namespaceKey } from '../../src/adapters/postgres/migrations.js';
import { quoteIdent, statements } from '../../src/adapters/postgres/sql.js';
import { openPostgresStore, type PostgresStore } from '../../src/adapters/postgres/store.js';
import type { ApplyResult, StoreCounters } from '../../src/ports/store.js';
import { deliver, ev } from '../contract/store.contract.js';
import {
  DATABASE_URL,
  clusterServicesSkipReason,
  dropPostgresSchema,
  randomNamespace,
} from './services.js';

const skip = await clusterServicesSkipReason();

const lifetime = (c: StoreCounters) => ({
  unique_processed: c.unique_processed,
  duplicate_dropped: c.duplicate_dropped,
});

function openStore(
  namespace: string,
  consumerName: string,
  more: { deliveryRetentionMs?: number } = {},
) {
  return openPostgresStore({ url: DATABASE_URL, namespace, poolMax: 4, consumerName, ...more });
}

async function withStores(
  n: number,
  body: (stores: PostgresStore[], namespace: string) => Promise<void>,
): Promise<void> {
  const namespace = randomNamespace();
  const stores = await Promise.all(
    Array.from({ length: n }, (_, i) => openStore(namespace, `instance-${i}`)),
  );
  try {
    await body(stores, namespace);
  } finally {
    await Promise.all(stores.map((s) => s.close()));
    await dropPostgresSchema(DATABASE_URL, namespace);
  }
}

void describe('PostgreSQL store with several instances', { skip: skip ?? false }, () => {
  void it('a reader paging with after under concurrent writers sees every event exactly once, in offset order', async () => {
    await withStores(4, async (stores) => {
      const WRITERS_PER_STORE = 3;
      const BATCHES = 25;
      const BATCH = 40;
      let writing = true;
      const written: number[] = [];
      const writers = stores.flatMap((store) =>
        Array.from({ length: WRITERS_PER_STORE }, async () => {
          for (let b = 0; b < BATCHES; b++) {
            const r = await store.apply(
              deliver(Array.from({ length: BATCH }, () => ev())),
              new Date(),
            );
            for (const item of r.items) if (item.offset !== null) written.push(item.offset);
          }
        }),
      );
      const reader = stores[0] as PostgresStore;
      const seen: number[] = [];
      let after = 0;
      let pages = 0;
      const read = (async () => {
        for (;;) {
          const done = !writing;
          const page = await reader.list({ after, limit: 97, order: 'asc' });
          pages++;
          for (const e of page) seen.push(e.offset);
          after = page.at(-1)?.offset ?? after;
          // Stop only after a full pass that started once every writer had finished.
          if (done && page.length === 0) return;
        }
      })();
      await Promise.all(writers);
      writing = false;
      await read;
      const total = stores.length * WRITERS_PER_STORE * BATCHES * BATCH;
      assert.equal(written.length, total);
      assert.equal(seen.length, total, `reader saw ${seen.length} of ${total} over ${pages} pages`);
      assert.deepEqual(
        seen,
        [...written].sort((x, y) => x - y),
      );
      assert.ok(pages > 20, `the reader paged while writers wrote (${pages} pages)`);
      const counters = await Promise.all(stores.map((s) => s.counters()));
      for (const c of counters) {
        assert.deepEqual(lifetime(c), { unique_processed: total, duplicate_dropped: 0 });
        assert.equal(c.stored, total);
      }
    });
  });

  void it('instances racing on overlapping keys (copies inside and across batches) store each key once and answer its offset', async () => {
    await withStores(3, async (stores) => {
      const KEYS = 300;
      const events = Array.from({ length: KEYS }, () => ev());
      // Every batch takes a random slice of the keys, some twice, so keys race between
      // instances (stored by one while another has already looked them up) and repeat
      // inside batches.
      let seed = 7;
      const rand = (n: number): number => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return seed % n;
      };
      const batches = Array.from({ length: 24 }, () =>
        deliver(Array.from({ length: 60 }, () => events[rand(KEYS)] as (typeof events)[number])),
      );
      const results = await Promise.all(
        batches.map((b, i) => (stores[i % stores.length] as PostgresStore).apply(b, new Date())),
      );
      const items = results.flatMap((r) => r.items);
      const stored = items.filter((i) => i.status === 'stored');
      const keys = new Set(items.map((i) => `${i.topic}\n${i.event_id}`));
      assert.equal(stored.length, keys.size, 'each key stored exactly once');
      assert.equal(new Set(stored.map((i) => `${i.topic}\n${i.event_id}`)).size, keys.size);
      const offsetOf = new Map(stored.map((i) => [`${i.topic}\n${i.event_id}`, i.offset]));
      for (const i of items) {
        assert.equal(
          i.offset,
          offsetOf.get(`${i.topic}\n${i.event_id}`),
          'a duplicate answers the stored offset',
        );
      }
      const reader = stores[0] as PostgresStore;
      for (const i of stored) {
        assert.equal((await reader.get(i.topic, i.event_id))?.offset, i.offset);
      }
      assert.deepEqual(lifetime(await reader.counters()), {
        unique_processed: keys.size,
        duplicate_dropped: items.length - keys.size,
      });
      assert.equal(
        results.reduce((n, r) => n + r.stored, 0),
        keys.size,
      );
    });
  });

  void it('instances starting at once apply each migration exactly once', async () => {
    await withStores(6, async (_stores, namespace) => {
      const c = new pg.Client({ connectionString: DATABASE_URL });
      await c.connect();
      try {
        const r = await c.query<{ version: number }>(
          `SELECT version FROM "${namespace}".schema_migrations ORDER BY version`,
        );
        assert.deepEqual(
          r.rows.map((x) => x.version),
          MIGRATIONS.map((m) => m.version),
        );
      } finally {
        await c.end();
      }
    });
  });

  void it('a batch committed by one instance and redelivered to another is not counted again', async () => {
    await withStores(2, async ([a, b]) => {
      assert.ok(a !== undefined && b !== undefined);
      const e = ev();
      const batch = deliver([e, ev(), e]);
      const first = await a.apply(batch, new Date());
      assert.deepEqual(
        first.items.map((i) => i.status),
        ['stored', 'stored', 'duplicate'],
      );
      // XACK lost; the entries are claimed by instance b, at the same time as a retries them.
      const [r1, r2] = await Promise.all([b.apply(batch, new Date()), a.apply(batch, new Date())]);
      for (const r of [r1, r2]) {
        assert.deepEqual(
          r.items.map((i) => i.status),
          ['redelivered', 'redelivered', 'redelivered'],
        );
      }
      assert.deepEqual(lifetime(await b.counters()), { unique_processed: 2, duplicate_dropped: 1 });
      const topics = await b.topics();
      assert.deepEqual(
        topics.map((t) => [t.topic, t.unique, t.duplicates]),
        [['orders', 2, 1]],
      );
    });
  });

  void it('pruning forgets the delivery ids below the floor and keeps the others', async () => {
    const namespace = randomNamespace();
    const store = await openStore(namespace, 'p');
    try {
      const mk = (id: string) => ({ id, event: ev() });
      const batch = [mk('1000-0'), mk('1000-1'), mk('1001-0'), mk('99999-5')];
      await store.apply(batch, new Date());
      assert.equal(await store.pruneDeliveriesBelow('1001-0'), 2);
      // Ids at or above the floor are still recognised.
      const again = await store.apply(batch.slice(2), new Date());
      assert.deepEqual(
        again.items.map((i) => i.status),
        ['redelivered', 'redelivered'],
      );
      assert.equal(await store.pruneDeliveriesBelow('1001-0'), 0);
      // Forgotten ids are below the floor: a late copy of them is still recognised.
      const late = await store.apply(batch.slice(0, 2), new Date());
      assert.deepEqual(
        late.items.map((i) => i.status),
        ['redelivered', 'redelivered'],
      );
      // Ids compare as numbers, not as text: 999-3 is below the floor, 99999-7 above it.
      const mixed = await store.apply([mk('99999-7'), mk('999-3')], new Date());
      assert.deepEqual(
        mixed.items.map((i) => i.status),
        ['stored', 'redelivered'],
      );
      // The floor never moves down, and the late copies recorded above are pruned again.
      assert.equal(await store.pruneDeliveriesBelow('1-0'), 3);
      const fresh = await store.apply([mk('1001-1')], new Date());
      assert.deepEqual(
        fresh.items.map((i) => i.status),
        ['stored'],
      );
      assert.deepEqual(lifetime(await store.counters()), {
        unique_processed: 6,
        duplicate_dropped: 0,
      });
    } finally {
      await store.close();
      await dropPostgresSchema(DATABASE_URL, namespace);
    }
  });

  void it('late copies of applied ids, interleaved with prunes that forget some of them first, are all redelivered', async () => {
    await withStores(2, async ([a, b]) => {
      assert.ok(a !== undefined && b !== undefined);
      const mk = (id: string) => ({ id, event: ev() });
      const ids = Array.from({ length: 400 }, (_, i) => `${5000 + i}-0`);
      const batches = ids.map((id) => [mk(id)]);
      const firsts = await Promise.all(
        batches.map((bt, i) => (i % 2 ? a : b).apply(bt, new Date())),
      );
      // Late copies of every batch, each store's queue of calls interleaved with prunes
      // whose floor is 20 ids ahead: many copies arrive after their id was forgotten, some
      // race with the prune that forgets it.
      const late: Promise<ApplyResult>[] = [];
      const prunes: Promise<number>[] = [];
      batches.forEach((bt, i) => {
        const store = i % 2 ? b : a;
        if (i % 10 === 0) prunes.push(store.pruneDeliveriesBelow(ids[i + 20] ?? '9999-0'));
        late.push(store.apply(bt, new Date()));
      });
      const [again, pruned] = await Promise.all([Promise.all(late), Promise.all(prunes)]);
      assert.ok(
        pruned.reduce((x, y) => x + y, 0) > 0,
        'some ids were forgotten before their copy came',
      );
      assert.deepEqual(
        firsts.map((r) => r.items[0]?.status),
        ids.map(() => 'stored'),
      );
      assert.deepEqual(
        again.map((r) => r.items[0]?.status),
        ids.map(() => 'redelivered'),
      );
      assert.deepEqual(lifetime(await a.counters()), {
        unique_processed: 400,
        duplicate_dropped: 0,
      });
    });
  });

  void it('an apply commits with synchronous_commit on even when the role is configured with it off', async () => {
    const namespace = randomNamespace();
    const role = `r_${namespace}`;
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    const url = new URL(DATABASE_URL);
    url.username = role;
    url.password = '';
    const database = url.pathname.slice(1);
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN`);
      await admin.query(`GRANT CREATE ON DATABASE ${database} TO ${role}`);
      await admin.query(`ALTER ROLE ${role} SET synchronous_commit = off`);
      const store = await openPostgresStore({
        url: url.toString(),
        namespace,
        poolMax: 2,
        consumerName: 'sync',
      });
      try {
        assert.equal((await store.apply(deliver([ev()]), new Date())).stored, 1);
      } finally {
        await store.close();
      }
      // The statement the store sends, inside a transaction we can look into before COMMIT:
      // the role's sessions run with it off, and the apply switches its transaction to on.
      const session = new pg.Client({ connectionString: url.toString() });
      await session.connect();
      try {
        const setting = async () =>
          (await session.query<{ v: string }>(`SELECT current_setting('synchronous_commit') AS v`))
            .rows[0]?.v;
        assert.equal(await setting(), 'off', 'the role really is configured with it off');
        await session.query('BEGIN');
        await session.query(statements(quoteIdent(namespace)).applyBatch, [
          '77',
          '0',
          '1',
          'orders',
          'sync-1',
          '2025-10-24T00:00:00.000Z',
          'svc',
          '{}',
          new Date(),
          0,
          LOCK_CLASS.offsets,
          namespaceKey(namespace),
          LOCK_CLASS.deliveryFloor,
          '77',
          '0',
        ]);
        assert.equal(await setting(), 'on', 'the apply commits with synchronous_commit on');
        await session.query('ROLLBACK');
        assert.equal(await setting(), 'off', 'local to the transaction');
      } finally {
        await session.end();
      }
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS "${namespace}" CASCADE`);
      await admin.query(`REVOKE ALL ON DATABASE ${database} FROM ${role}`);
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    }
  });

  void it('a batch over statement_timeout is applied in smaller parts, in order, counted once', async () => {
    const namespace = randomNamespace();
    // The first open creates the schema; then every inserted row costs 20 ms (a trigger
    // standing in for a slow disk or a big payload), so 64 rows take over a second.
    const setup = await openStore(namespace, 'setup');
    await setup.close();
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    const store = await openPostgresStore({
      url: DATABASE_URL,
      namespace,
      poolMax: 2,
      consumerName: 'slow',
      statementTimeoutMs: 600,
    });
    try {
      await admin.query(`
        CREATE FUNCTION "${namespace}".slow_row() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(0.02); RETURN NEW; END $$;
        CREATE TRIGGER slow BEFORE INSERT ON "${namespace}".events
        FOR EACH ROW EXECUTE FUNCTION "${namespace}".slow_row();`);
      const events = Array.from({ length: 64 }, (_, i) => ev({ event_id: `slow-${i % 48}` }));
      const r = await store.apply(deliver(events), new Date());
      assert.equal(r.stored, 48);
      assert.equal(r.duplicates, 16);
      assert.deepEqual(
        r.items.map((i) => i.status),
        events.map((_, i) => (i < 48 ? 'stored' : 'duplicate')),
      );
      const offsets = r.items.slice(0, 48).map((i) => i.offset ?? 0);
      assert.deepEqual(
        offsets,
        [...offsets].sort((x, y) => x - y),
        'offsets follow the batch order',
      );
      assert.deepEqual(lifetime(await store.counters()), {
        unique_processed: 48,
        duplicate_dropped: 16,
      });
    } finally {
      await store.close();
      await admin.end();
      await dropPostgresSchema(DATABASE_URL, namespace);
    }
  });
});
