/**
 * Upgrading an existing embedded store to the retention schema (SQLite migration 2): the
 * events' dedup keys move into the key store, the counters gain exact `stored` and
 * `stored_bytes`, offsets continue above the old ones, and the old events are still
 * duplicates after the upgrade, also once they expired. And the upgrade to event buckets
 * (migration 4): a store whose oldest events the row-wise expiry deleted opens with its
 * events table as bucket 0 and the retention floor just below its oldest row. And the row
 * checksums (added at every open, outside the numbered migrations): every bucket table gains the column, older rows read as they
 * are, new rows carry a checksum that matches.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from '../../src/adapters/sqlite/driver.js';
import { rowChecksum } from '../../src/adapters/sqlite/damage.js';
import { SQLITE_MIGRATIONS } from '../../src/adapters/sqlite/migrations.js';
import { openSqliteStore } from '../../src/adapters/sqlite/store.js';
import { dedupKeyHash } from '../../src/domain/dedup-key.js';
import { eventBytes } from '../../src/domain/retention.js';
import { makeDataDir, removeDir } from '../helpers/tmp.js';

const OLD = [
  { topic: 'login', event_id: 'u-1', payload: '{"n":1}' },
  { topic: 'order', event_id: 'u-1', payload: '{"n":"ünï"}' },
  { topic: 'login', event_id: 'u-2', payload: '{"n":3}' },
].map((e) => ({ ...e, timestamp: '2025-10-24T00:00:00.000Z', source: 'svc' }));
const OLD_AT = '2026-01-01T00:00:00.000Z';

/** A store as release 1 left it: schema version 1, three events, one duplicate counted. */
function writeVersionOneStore(file: string): void {
  const db = new Database(file);
  const first = SQLITE_MIGRATIONS[0];
  assert.ok(first !== undefined && first.version === 1);
  db.exec(first.sql);
  db.exec('PRAGMA user_version = 1');
  const insert = db.prepare(
    `INSERT INTO events (topic, event_id, timestamp, source, payload, processed_at)
     VALUES (?, ?, ?, ?, ?, ?)`,
  );
  for (const e of OLD) insert.run(e.topic, e.event_id, e.timestamp, e.source, e.payload, OLD_AT);
  db.exec(`UPDATE counters SET unique_processed = 3, duplicate_dropped = 1`);
  db.exec(
    `INSERT INTO topics VALUES ('login', 2, 1, 3, '${OLD_AT}'), ('order', 1, 0, 2, '${OLD_AT}')`,
  );
  db.exec(`INSERT INTO applied_ranges VALUES (1, 4)`);
  db.close();
}

/** A database with the schema of migrations 1..`version` (user_version left to the caller). */
function schemaUpTo(file: string, version: number): InstanceType<typeof Database> {
  const db = new Database(file);
  db.function('logsieve_key', { deterministic: true }, (t: unknown, id: unknown) =>
    dedupKeyHash(String(t), String(id)),
  );
  for (const m of SQLITE_MIGRATIONS.filter((x) => x.version <= version)) db.exec(m.sql);
  return db;
}

void describe('SQLite store upgrade to the retention schema', () => {
  void it('moves every existing key into the key store and keeps counting exactly', async () => {
    const dir = await makeDataDir();
    const file = join(dir, 'events.db');
    try {
      writeVersionOneStore(file);
      const store = openSqliteStore({
        file,
        retention: { maxAgeMs: 60_000, maxBytes: null, dedupWindowMs: null },
      });
      try {
        const c = store.countersNow();
        assert.deepEqual(c, {
          unique_processed: 3,
          duplicate_dropped: 1,
          stored: 3,
          expired: 0,
          stored_bytes: OLD.reduce((n, e) => n + eventBytes(e), 0),
        });
        assert.deepEqual(
          (await store.topics()).map((t) => [t.topic, t.stored]),
          [
            ['login', 2],
            ['order', 1],
          ],
        );
        assert.equal((await store.get('order', 'u-1'))?.payload, '{"n":"ünï"}');
        assert.ok(store.isApplied(4) && !store.isApplied(5));

        // The old keys are duplicates; new events continue above the old offsets.
        const now = new Date('2026-01-01T00:00:30.000Z');
        const r = await store.apply(
          [
            { id: '5', event: { ...OLD[0], payload: '{"again":1}' } as (typeof OLD)[number] },
            { id: '6', event: { ...(OLD[0] as (typeof OLD)[number]), event_id: 'u-3' } },
          ],
          now,
        );
        assert.deepEqual(
          r.items.map((i) => [i.status, i.offset]),
          [
            ['duplicate', 1],
            ['stored', 4],
          ],
        );

        // Once the old events expired, their keys are still there.
        const later = new Date('2026-01-01T00:01:10.000Z');
        const step = await store.expire(later);
        assert.equal(step.expired, 3);
        assert.equal(await store.get('login', 'u-1'), null);
        const again = await store.apply(
          [{ id: '7', event: OLD[2] as (typeof OLD)[number] }],
          later,
        );
        assert.deepEqual(
          again.items.map((i) => [i.status, i.offset]),
          [['duplicate', 3]],
        );
        assert.deepEqual(
          {
            ...store.countersNow(),
            stored_bytes: 0,
          },
          { unique_processed: 4, duplicate_dropped: 3, stored: 1, expired: 3, stored_bytes: 0 },
        );
      } finally {
        await store.close();
      }
    } finally {
      await removeDir(dir);
    }
  });

  void it('a version-3 store expired row by row opens as bucket 0 above its floor, and its buckets roll and drop from there', async () => {
    const dir = await makeDataDir();
    const file = join(dir, 'events.db');
    try {
      const db = schemaUpTo(file, 3);
      db.exec('PRAGMA user_version = 3');
      const insert = db.prepare(
        `INSERT INTO events ("offset", topic, event_id, timestamp, source, payload, processed_at)
         VALUES (?, 'login', ?, '2025-10-24T00:00:00.000Z', 'svc', '{}', ?)`,
      );
      const key = db.prepare('INSERT INTO dedup_keys VALUES (?, ?, 1767225600)');
      for (let o = 1; o <= 5; o++) {
        insert.run(o, `e-${o}`, OLD_AT);
        key.run(dedupKeyHash('login', `e-${o}`), o);
      }
      // What the row-wise expiry left: offsets 1 and 2 deleted, counted as expired.
      db.exec(`DELETE FROM events WHERE "offset" <= 2`);
      const bytes = eventBytes({
        ...(OLD[0] as (typeof OLD)[number]),
        event_id: 'e-3',
        payload: '{}',
      });
      db.exec(`UPDATE counters SET unique_processed = 5, stored = 3, expired = 2,
        stored_bytes = ${bytes * 3}, last_offset = 5`);
      db.exec(`INSERT INTO topics VALUES ('login', 5, 0, 5, '${OLD_AT}', 3)`);
      db.exec(`INSERT INTO applied_ranges VALUES (1, 5)`);
      db.close();

      const store = openSqliteStore({
        file,
        bucketRows: 4,
        retention: { maxAgeMs: 60_000, maxBytes: null, dedupWindowMs: null },
      });
      try {
        const rows = await store.list({ after: 0, limit: 10, order: 'asc' });
        assert.deepEqual(
          rows.map((r) => r.offset),
          [3, 4, 5],
        );
        assert.equal(await store.get('login', 'e-2'), null);
        // New events continue at 6, in a new bucket once bucket 0 holds 4 offsets.
        const now = new Date('2026-01-01T00:00:30.000Z');
        const r = await store.apply(
          [6, 7, 8].map((i) => ({
            id: String(i),
            event: { ...(OLD[0] as (typeof OLD)[number]), event_id: `n-${i}` },
          })),
          now,
        );
        assert.deepEqual(
          r.items.map((i) => i.offset),
          [6, 7, 8],
        );
        const later = new Date('2026-01-01T00:01:10.000Z');
        for (let i = 0; i < 10 && (await store.expire(later)).more; i++);
        const c = store.countersNow();
        assert.deepEqual([c.unique_processed, c.stored, c.expired], [8, 3, 5]);
        assert.deepEqual(
          (await store.list({ after: 0, limit: 10, order: 'asc' })).map((x) => x.offset),
          [6, 7, 8],
        );
        assert.equal((await store.topics())[0]?.stored, 3);
      } finally {
        await store.close();
      }
      const check = new Database(file, { readonly: true });
      try {
        const tables = check
          .prepare<[], string>(
            `SELECT name FROM sqlite_schema WHERE type = 'table' AND name GLOB 'events*'`,
          )
          .pluck()
          .all();
        assert.deepEqual(tables, ['events_1'], 'bucket 0 (the old events table) was dropped');
      } finally {
        check.close();
      }
    } finally {
      await removeDir(dir);
    }
  });

  void it('a version-5 store with two buckets gains row checksums in both; old rows read as they are', async () => {
    const dir = await makeDataDir();
    const file = join(dir, 'events.db');
    try {
      const db = schemaUpTo(file, 5);
      // Bucket 1 as schema 5 created it: without the checksum column.
      db.exec(`
        CREATE TABLE events_1 (
          "offset" INTEGER PRIMARY KEY, topic TEXT NOT NULL, event_id TEXT NOT NULL,
          timestamp TEXT NOT NULL, source TEXT NOT NULL, payload TEXT NOT NULL,
          processed_at TEXT NOT NULL
        );
        CREATE INDEX events_1_by_topic ON events_1 (topic, "offset");
        CREATE INDEX events_1_by_source ON events_1 (source, "offset");
        CREATE INDEX events_1_by_topic_source ON events_1 (topic, source, "offset");
        INSERT INTO buckets (n, first_offset) VALUES (1, 3);
      `);
      for (const [table, o] of [
        ['events', 1],
        ['events', 2],
        ['events_1', 3],
      ] as const) {
        db.prepare(
          `INSERT INTO ${table} VALUES (?, 'login', ?, '2025-10-24T00:00:00.000Z', 'svc', '{}', ?)`,
        ).run(o, `u-${o}`, OLD_AT);
        db.prepare('INSERT INTO dedup_keys VALUES (?, ?, 1767225600)').run(
          dedupKeyHash('login', `u-${o}`),
          o,
        );
      }
      db.exec(`UPDATE counters SET unique_processed = 3, stored = 3, last_offset = 3,
        keys_offset = 3, stored_bytes = 0 WHERE id = 1`);
      db.exec('PRAGMA user_version = 5');
      db.close();

      const store = openSqliteStore({ file });
      try {
        store.applySync(
          [
            {
              id: '10',
              event: {
                topic: 'login',
                event_id: 'u-4',
                timestamp: '2025-10-24T00:00:00.000Z',
                source: 'svc',
                payload: '{"n":4}',
              },
            },
          ],
          new Date('2026-01-02T00:00:00.000Z'),
        );
        const rows = await store.list({ after: 0, limit: 10, order: 'asc' });
        assert.deepEqual(rows[0], {
          offset: 1,
          topic: 'login',
          event_id: 'u-1',
          timestamp: '2025-10-24T00:00:00.000Z',
          source: 'svc',
          payload: '{}',
          processed_at: OLD_AT,
        });
        assert.deepEqual(
          rows.map((r) => r.event_id),
          ['u-1', 'u-2', 'u-3', 'u-4'],
        );
        assert.equal((await store.get('login', 'u-3'))?.offset, 3);
      } finally {
        await store.close();
      }
      const after = new Database(file, { readonly: true });
      try {
        for (const t of ['events', 'events_1']) {
          const columns = after.pragma(`table_info(${t})`) as { name: string }[];
          assert.ok(
            columns.some((c) => c.name === 'crc'),
            `${t} has the checksum column`,
          );
        }
        // Old rows have none; the new one carries the checksum of what it stores.
        const crcs = after
          .prepare<[], [number, number | null]>('SELECT "offset", crc FROM events_1 ORDER BY 1')
          .raw()
          .all();
        assert.deepEqual(crcs, [
          [3, null],
          [
            4,
            rowChecksum(
              4,
              {
                topic: 'login',
                event_id: 'u-4',
                timestamp: '2025-10-24T00:00:00.000Z',
                source: 'svc',
                payload: '{"n":4}',
              },
              '2026-01-02T00:00:00.000Z',
            ),
          ],
        ]);
        // Outside the numbered migrations: an older release can still open the store.
        assert.equal(after.pragma('user_version', { simple: true }), 5);
      } finally {
        after.close();
      }
    } finally {
      await removeDir(dir);
    }
  });
});
