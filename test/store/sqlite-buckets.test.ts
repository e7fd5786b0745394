/**
 * Event buckets of the SQLite store (src/adapters/sqlite/buckets.ts): expiry frees space by
 * dropping whole bucket tables, whose pages new buckets reuse, so the file plateaus under a
 * steady load; a reader on its own connection, with statements cached over buckets that the
 * writer creates and drops, always sees exactly the retained events, and a read transaction
 * keeps its snapshot (schema included) while the writer drops a bucket under it. A SIGKILL
 * inside an expiry step that drops a bucket loses nothing and moves no counter.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import type { Database as DB } from 'better-sqlite3';
import Database from '../../src/adapters/sqlite/driver.js';
import { SqliteReads } from '../../src/adapters/sqlite/reads.js';
import { openSqliteStore, type SqliteStore } from '../../src/adapters/sqlite/store.js';
import type { RetentionPolicy } from '../../src/domain/retention.js';
import { deliver, ev } from '../contract/store.contract.js';
import { makeDataDir, removeDir } from '../helpers/tmp.js';

const T0 = Date.parse('2026-03-01T00:00:00.000Z');
const SECOND = 1_000;

function bucketTables(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return db
      .prepare<[], string>(
        `SELECT name FROM sqlite_schema WHERE type = 'table' AND name GLOB 'events*' ORDER BY name`,
      )
      .pluck()
      .all();
  } finally {
    db.close();
  }
}

function pageCount(store: SqliteStore, file: string): number {
  store.checkpoint();
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare<[], number>('PRAGMA page_count').pluck().get() ?? 0;
  } finally {
    db.close();
  }
}

/**
 * A store with RETENTION_MAX_AGE 5 s and buckets of `bucketRows`, and a second, read-only
 * connection with its own SqliteReads (what a reader thread has), for `body`.
 */
async function withReader(
  bucketRows: number,
  body: (t: { store: SqliteStore; file: string; readerDb: DB; reads: SqliteReads }) => void,
): Promise<void> {
  const dir = await makeDataDir();
  const file = join(dir, 'events.db');
  const retention: RetentionPolicy = { maxAgeMs: 5 * SECOND, maxBytes: null, dedupWindowMs: null };
  const store = openSqliteStore({ file, retention, bucketRows });
  const readerDb = new Database(file, { readonly: true });
  try {
    body({ store, file, readerDb, reads: new SqliteReads(readerDb) });
  } finally {
    readerDb.close();
    await store.close();
    await removeDir(dir);
  }
}

function expireAll(store: SqliteStore, now: Date): void {
  for (let i = 0; i < 1_000; i++) if (!store.expireSync(now).more) return;
  throw new Error('expiry never settled');
}

/** `n` events processed at `atMs`, in batches of 100. */
function applyAt(store: SqliteStore, n: number, atMs: number, topic = 'orders'): void {
  for (let i = 0; i < n; i += 100) {
    const batch = Array.from({ length: Math.min(100, n - i) }, () =>
      ev({ topic, source: `s${i % 3}`, payload: `{"pad":"${'x'.repeat(200)}"}` }),
    );
    store.applySync(deliver(batch), new Date(atMs));
  }
}

void describe('SQLite event buckets', () => {
  void it('expiry drops whole buckets and new buckets reuse their pages: the file plateaus', async () => {
    const dir = await makeDataDir();
    const file = join(dir, 'events.db');
    // 10 s retention: a bucket spans 10 s / 16, so each simulated second starts one.
    const retention: RetentionPolicy = {
      maxAgeMs: 10 * SECOND,
      maxBytes: null,
      dedupWindowMs: 10 * SECOND,
    };
    const store = openSqliteStore({ file, retention });
    try {
      const sizes: number[] = [];
      const tables: number[] = [];
      for (let s = 0; s < 60; s++) {
        const now = T0 + s * SECOND;
        applyAt(store, 500, now);
        expireAll(store, new Date(now));
        sizes.push(pageCount(store, file));
        tables.push(bucketTables(file).length);
      }
      const c = store.countersNow();
      assert.equal(c.unique_processed, 30_000);
      assert.equal(c.stored + c.expired, c.unique_processed);
      // Retained: the last 10 s of events (the one exactly 10 s old too).
      assert.equal(c.stored, 5_500);
      // ~11 buckets of retained seconds; the others were dropped, not emptied row by row.
      assert.ok(Math.max(...tables.slice(20)) <= 13, `bucket tables: ${tables.join(',')}`);
      assert.ok(!bucketTables(file).includes('events'), 'bucket 0 was dropped');
      // After the warm-up (retention full, keys being forgotten) the file stops growing.
      const settled = sizes[25] ?? 0;
      const last = sizes.at(-1) ?? 0;
      assert.ok(last <= settled * 1.15, `pages: ${sizes.join(',')}`);
    } finally {
      await store.close();
      await removeDir(dir);
    }
  });

  void it('a reader connection with cached statements sees exactly the retained events while buckets come and go', async () => {
    await withReader(250, ({ store, file, reads }) => {
      let firstKept = 1;
      for (let s = 0; s < 30; s++) {
        const now = T0 + s * SECOND;
        applyAt(store, 300, now, s % 2 === 0 ? 'even' : 'odd');
        expireAll(store, new Date(now));
        const c = store.countersNow();
        const all = reads.list({ after: 0, limit: 100_000, order: 'asc' }, 1e9);
        assert.equal(all.length, c.stored, `second ${s}: rows = stored`);
        // A prefix of the offsets expired: the rest are contiguous up to the last one.
        firstKept = all[0]?.offset ?? firstKept;
        all.forEach((row, i) => assert.equal(row.offset, firstKept + i));
        assert.equal(all.at(-1)?.offset, c.unique_processed);
        // desc across buckets, bounded by `before`, one topic.
        const before = firstKept + Math.floor(c.stored / 2);
        const desc = reads.list(
          { after: 0, before, limit: 400, order: 'desc', topic: 'even' },
          1e9,
        );
        const expected = all.filter((r) => r.offset < before && r.topic === 'even').reverse();
        assert.deepEqual(
          desc.map((r) => r.offset),
          expected.slice(0, 400).map((r) => r.offset),
        );
        // get of a retained event, and of one just below the floor.
        const oldest = all[0];
        assert.ok(oldest !== undefined);
        const held = store.heldOffset(oldest.topic, oldest.event_id);
        assert.equal(reads.get(oldest.topic, oldest.event_id, held)?.offset, oldest.offset);
      }
      assert.ok(store.countersNow().expired > 0);
      assert.ok(bucketTables(file).length <= 12, bucketTables(file).join(','));
    });
  });

  void it('a read transaction keeps its snapshot while the writer drops a bucket under it', async () => {
    await withReader(100, ({ store, file, readerDb, reads }) => {
      applyAt(store, 300, T0);
      const first = reads.list({ after: 0, limit: 1_000, order: 'asc' }, 1e9);
      assert.equal(first.length, 300);
      const oldTables = bucketTables(file);
      readerDb.exec('BEGIN');
      readerDb.prepare('SELECT count(*) FROM buckets').pluck().get();
      // Everything expires; its buckets are dropped and a new one replaces the current one.
      expireAll(store, new Date(T0 + 10 * SECOND));
      applyAt(store, 50, T0 + 10 * SECOND);
      assert.notDeepEqual(bucketTables(file), oldTables);
      const pinned = reads.list({ after: 0, limit: 1_000, order: 'asc' }, 1e9);
      assert.deepEqual(
        pinned.map((r) => r.offset),
        first.map((r) => r.offset),
        'the snapshot still holds the dropped buckets',
      );
      readerDb.exec('COMMIT');
      const now = reads.list({ after: 0, limit: 1_000, order: 'asc' }, 1e9);
      assert.deepEqual(
        now.map((r) => r.offset),
        Array.from({ length: 50 }, (_, i) => 301 + i),
      );
      const gone = first[0];
      assert.ok(gone !== undefined);
      assert.equal(
        reads.get(gone.topic, gone.event_id, store.heldOffset(gone.topic, gone.event_id)),
        null,
        'an expired event is a 404',
      );
    });
  });

  void it('an oversized old bucket is trimmed by row deletes in small steps before it is dropped', async () => {
    const dir = await makeDataDir();
    const file = join(dir, 'events.db');
    try {
      // 5,000 events in bucket 0 (a store written without retention, default bucket size).
      const before = openSqliteStore({ file });
      applyAt(before, 5_000, T0);
      await before.close();
      const retention: RetentionPolicy = {
        maxAgeMs: 5 * SECOND,
        maxBytes: null,
        dedupWindowMs: null,
      };
      const store = openSqliteStore({ file, retention, bucketRows: 100 });
      try {
        applyAt(store, 100, T0 + 10 * SECOND);
        const rowsOf0 = (): number => {
          const db = new Database(file, { readonly: true });
          try {
            return db.prepare<[], number>('SELECT count(*) FROM events').pluck().get() ?? 0;
          } finally {
            db.close();
          }
        };
        const first = store.expireSync(new Date(T0 + 10 * SECOND));
        assert.equal(first.expired, 5_000, 'every old event expires at once (the floor)');
        assert.equal(store.countersNow().stored, 100);
        assert.ok(first.more);
        const left = rowsOf0();
        assert.ok(left > 0 && left < 5_000, `one step deleted part of bucket 0: ${left} rows left`);
        expireAll(store, new Date(T0 + 10 * SECOND));
        assert.ok(!bucketTables(file).includes('events'), 'then bucket 0 was dropped');
        const c = store.countersNow();
        assert.deepEqual([c.stored, c.expired, c.unique_processed], [100, 5_000, 5_100]);
        assert.equal((await store.list({ after: 0, limit: 1_000, order: 'asc' })).length, 100);
      } finally {
        await store.close();
      }
    } finally {
      await removeDir(dir);
    }
  });

  void it('a SIGKILL inside a step that drops a bucket leaves the bucket, the floor and the counters as they were', async () => {
    const dir = await makeDataDir();
    const file = join(dir, 'events.db');
    try {
      // Buckets of 100: offsets 1-300 in three buckets, processed at T0; 100 more at T0+10 s.
      const before = openSqliteStore({ file, bucketRows: 100 });
      applyAt(before, 300, T0);
      applyAt(before, 100, T0 + 10 * SECOND);
      await before.close();
      const tables = bucketTables(file);
      assert.deepEqual(tables, ['events', 'events_1', 'events_2', 'events_3']);
      // A child process whose first expiry step (floor above 300, bucket 0 dropped) is killed
      // between its changes and its commit.
      const store = fileURLToPath(new URL('../../src/adapters/sqlite/store.js', import.meta.url));
      const script = `
        const { openSqliteStore } = await import(${JSON.stringify(store)});
        const s = openSqliteStore({
          file: ${JSON.stringify(file)},
          bucketRows: 100,
          retention: { maxAgeMs: 5000, maxBytes: null, dedupWindowMs: null },
          duringExpiry: () => process.kill(process.pid, 'SIGKILL'),
        });
        s.expireSync(new Date(${T0 + 10 * SECOND}));
      `;
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
      });
      assert.equal(child.signal, 'SIGKILL', child.stderr);
      assert.deepEqual(bucketTables(file), tables, 'no bucket was dropped');
      const retention: RetentionPolicy = {
        maxAgeMs: 5 * SECOND,
        maxBytes: null,
        dedupWindowMs: null,
      };
      const again = openSqliteStore({ file, retention, bucketRows: 100 });
      try {
        const c = again.countersNow();
        assert.deepEqual([c.stored, c.expired, c.unique_processed], [400, 0, 400]);
        assert.equal((await again.list({ after: 0, limit: 1_000, order: 'asc' })).length, 400);
        expireAll(again, new Date(T0 + 10 * SECOND));
        const done = again.countersNow();
        assert.deepEqual([done.stored, done.expired], [100, 300]);
        const rows = await again.list({ after: 0, limit: 1_000, order: 'asc' });
        assert.deepEqual(
          rows.map((r) => r.offset),
          Array.from({ length: 100 }, (_, i) => 301 + i),
        );
        assert.equal((await again.topics())[0]?.stored, 100);
      } finally {
        await again.close();
      }
      assert.deepEqual(bucketTables(file), ['events_3']);
    } finally {
      await removeDir(dir);
    }
  });
});
