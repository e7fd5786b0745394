/**
 * Recent keys of the SQLite store (src/adapters/sqlite/recent-keys.ts): the dedup keys of the
 * newest events are held in memory and flushed to dedup_keys every `recentKeys` keys. What must
 * hold whatever the moment: a duplicate of a held key is a duplicate (with its original offset);
 * a SIGKILL before a flush loses no key (they come back from the event rows); expiry never
 * removes an event whose key is only held; /events/:topic/:event_id finds a held event, from
 * the writer's connection and from a reader's; a batch that rolls back holds none of its keys.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import Database from '../../src/adapters/sqlite/driver.js';
import { RecentKeys } from '../../src/adapters/sqlite/recent-keys.js';
import { SqliteReads } from '../../src/adapters/sqlite/reads.js';
import { openSqliteStore, type SqliteStore } from '../../src/adapters/sqlite/store.js';
import type { AcceptedEvent } from '../../src/domain/event.js';
import { deliver, ev } from '../contract/store.contract.js';
import { makeDataDir, removeDir } from '../helpers/tmp.js';

const T0 = Date.parse('2026-03-01T00:00:00.000Z');

/** Rows of dedup_keys and counters.keys_offset, read on a connection of its own. */
function keyStore(file: string): { keys: number; keysOffset: number; lastOffset: number } {
  const db = new Database(file, { readonly: true });
  try {
    const keys = db.prepare<[], number>('SELECT count(*) FROM dedup_keys').pluck().get() ?? 0;
    const row = db
      .prepare<[], { keys_offset: number; last_offset: number }>(
        'SELECT keys_offset, last_offset FROM counters WHERE id = 1',
      )
      .get();
    return { keys, keysOffset: row?.keys_offset ?? -1, lastOffset: row?.last_offset ?? -1 };
  } finally {
    db.close();
  }
}

/** Content-hash-like ids (random keys), as OTLP records without log.record.uid get. */
function events(n: number, tag: string): AcceptedEvent[] {
  return Array.from({ length: n }, (_, i) =>
    ev({ topic: i % 2 === 0 ? 'a' : 'b', event_id: `sha256:${tag}-${i}` }),
  );
}

function applyAll(store: SqliteStore, evs: readonly AcceptedEvent[], at = T0, batch = 50): void {
  for (let i = 0; i < evs.length; i += batch) {
    store.applySync(deliver(evs.slice(i, i + batch)), new Date(at));
  }
}

async function withFile(body: (file: string) => Promise<void>): Promise<void> {
  const dir = await makeDataDir();
  try {
    await body(join(dir, 'events.db'));
  } finally {
    await removeDir(dir);
  }
}

void describe('RecentKeys', () => {
  void it('gives every held key back once, in byte order, with the first_seen of its add', () => {
    const held = new RecentKeys();
    // 24-byte names sharing a 7-byte prefix, as content-hash ids' keys do, in shuffled order.
    const names = Array.from({ length: 300 }, (_, i) => {
      const b = Buffer.alloc(24, 0);
      b.write('sha256:', 0, 'latin1');
      b.writeUInt32BE((((i * 2654435761) >>> 0) ^ 0x5a5a5a5a) >>> 0, 7);
      b.writeUInt16BE(i, 11);
      return b.toString('latin1');
    });
    names.forEach((name, i) => held.add(name, i + 1, 1_000 + Math.floor(i / 100)));
    held.commit();
    const out = held.sorted();
    assert.equal(out.length, 300);
    assert.deepEqual(
      out.map((k) => k.name),
      [...names].sort(),
    );
    for (const k of out) {
      const i = names.indexOf(k.name);
      assert.equal(k.offset, i + 1);
      assert.equal(k.seen, 1_000 + Math.floor(i / 100));
    }
  });

  void it('undoes the adds of a rolled-back transaction and keeps the committed ones', () => {
    const held = new RecentKeys();
    held.add('k1', 1, 10);
    held.commit();
    held.add('k2', 2, 11);
    held.add('k3', 3, 11);
    held.rollback();
    assert.equal(held.size, 1);
    assert.equal(held.offsetOf('k2'), undefined);
    held.add('k2', 2, 12);
    held.commit();
    assert.deepEqual(held.sorted(), [
      { name: 'k1', offset: 1, seen: 10 },
      { name: 'k2', offset: 2, seen: 12 },
    ]);
  });
});

void describe('SQLite store: recent keys', () => {
  void it('flushes every recentKeys keys; duplicates of held and flushed keys keep their offsets', async () => {
    await withFile(async (file) => {
      const store = openSqliteStore({ file, recentKeys: 100 });
      const evs = events(250, 'f');
      applyAll(store, evs);
      // Flushed at 100 and 200 keys (batches of 50): 50 still held.
      assert.deepEqual(keyStore(file), { keys: 200, keysOffset: 200, lastOffset: 250 });
      // A copy of a flushed key and one of a held key, in one batch.
      const again = store.applySync(deliver([evs[10], evs[240]] as AcceptedEvent[]), new Date(T0));
      assert.deepEqual(
        again.items.map((i) => [i.status, i.offset]),
        [
          ['duplicate', 11],
          ['duplicate', 241],
        ],
      );
      await store.close();
      // close flushes what is held.
      assert.deepEqual(keyStore(file), { keys: 250, keysOffset: 250, lastOffset: 250 });
    });
  });

  void it('a SIGKILL before a flush loses no key: they come back from the event rows', async () => {
    await withFile(async (file) => {
      const evs = events(120, 'k');
      const store = fileURLToPath(new URL('../../src/adapters/sqlite/store.js', import.meta.url));
      const contract = fileURLToPath(new URL('../contract/store.contract.js', import.meta.url));
      const script = `
        const { openSqliteStore } = await import(${JSON.stringify(store)});
        const { deliver } = await import(${JSON.stringify(contract)});
        const s = openSqliteStore({ file: ${JSON.stringify(file)}, recentKeys: 1000 });
        const evs = ${JSON.stringify(evs)};
        for (let i = 0; i < evs.length; i += 50) s.applySync(deliver(evs.slice(i, i + 50)), new Date(${T0}));
        process.kill(process.pid, 'SIGKILL');
      `;
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
      });
      assert.equal(child.signal, 'SIGKILL', child.stderr);
      // Every event stored, none of its keys in dedup_keys: the keys were only held.
      assert.deepEqual(keyStore(file), { keys: 0, keysOffset: 0, lastOffset: 120 });
      const reopened = openSqliteStore({ file, recentKeys: 1000 });
      try {
        const again = reopened.applySync(deliver(evs), new Date(T0 + 1000));
        assert.equal(again.stored, 0);
        assert.equal(again.duplicates, 120);
        assert.deepEqual(
          again.items.map((i) => i.offset),
          evs.map((_, i) => i + 1),
        );
        const fresh = reopened.applySync(deliver(events(3, 'new')), new Date(T0 + 1000));
        assert.equal(fresh.stored, 3);
        assert.equal(fresh.lastOffset, 123);
      } finally {
        await reopened.close();
      }
    });
  });

  void it('expiry stores the held keys before the floor passes their events', async () => {
    await withFile(async (file) => {
      const retention = { maxAgeMs: 5_000, maxBytes: null, dedupWindowMs: null };
      const store = openSqliteStore({ file, retention, recentKeys: 1000, bucketRows: 50 });
      const evs = events(150, 'x');
      applyAll(store, evs, T0);
      assert.equal(keyStore(file).keys, 0);
      // Everything expires; the floor moves above every offset, buckets are dropped.
      for (let i = 0; i < 10; i++) store.expireSync(new Date(T0 + 10_000));
      assert.equal(store.countersNow().stored, 0);
      const after = keyStore(file);
      assert.equal(after.keys, 150);
      assert.equal(after.keysOffset, 150);
      // Copies after the expiry are duplicates, within this process and after a restart.
      assert.equal(store.applySync(deliver(evs.slice(0, 10)), new Date(T0 + 10_000)).stored, 0);
      await store.close();
      const reopened = openSqliteStore({ file, retention, recentKeys: 1000, bucketRows: 50 });
      try {
        const again = reopened.applySync(deliver(evs), new Date(T0 + 10_000));
        assert.equal(again.stored, 0);
        assert.equal(again.duplicates, 150);
      } finally {
        await reopened.close();
      }
    });
  });

  void it('GET of a held event finds it, on the writer connection and on a reader connection', async () => {
    await withFile(async (file) => {
      const store = openSqliteStore({ file, recentKeys: 100, bucketRows: 40 });
      const evs = events(130, 'g');
      applyAll(store, evs, T0, 20);
      // Buckets of 40 offsets; 100 keys flushed, the 30 of offsets 101-130 held, in two buckets.
      assert.equal(keyStore(file).keysOffset, 100);
      const readerDb = new Database(file, { readonly: true });
      const reader = new SqliteReads(readerDb);
      try {
        for (const i of [5, 99, 100, 117, 129]) {
          const e = evs[i] as AcceptedEvent;
          const mine = await store.get(e.topic, e.event_id);
          assert.equal(mine?.offset, i + 1, `writer, event ${i}`);
          const held = store.heldOffset(e.topic, e.event_id);
          assert.equal(held === null, i < 100, `event ${i} held`);
          assert.equal(reader.get(e.topic, e.event_id, held)?.offset, i + 1, `reader, event ${i}`);
        }
        // Same id under the other topic: not found.
        const e = evs[117] as AcceptedEvent;
        assert.equal(await store.get(e.topic === 'a' ? 'b' : 'a', e.event_id), null);
        assert.equal(reader.get('a', 'sha256:none', store.heldOffset('a', 'sha256:none')), null);
      } finally {
        readerDb.close();
        await store.close();
      }
    });
  });

  void it('a batch that rolls back holds none of its keys', async () => {
    await withFile(async (file) => {
      const store = openSqliteStore({ file, recentKeys: 1000 });
      try {
        const [first, second] = events(2, 'r') as [AcceptedEvent, AcceptedEvent];
        // The second delivery's id is past the store's sequence range: the batch throws
        // after the first event's key was taken.
        const bad = [...deliver([first]), { id: '9007199254740993', event: second }];
        assert.throws(() => store.applySync(bad, new Date(T0)), /sequence range/);
        const retry = store.applySync(deliver([first, second]), new Date(T0));
        assert.equal(retry.stored, 2);
        assert.deepEqual(
          retry.items.map((i) => i.offset),
          [1, 2],
        );
      } finally {
        await store.close();
      }
    });
  });
});
