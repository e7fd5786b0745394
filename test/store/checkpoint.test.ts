/**
 * checkpoint() with a reader on an older snapshot (a reader thread mid-page): the WAL
 * checkpoint cannot finish, and the store still returns normally having synced the WAL, so
 * the queue log may delete the segments of the batches applied so far.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from '../../src/adapters/sqlite/driver.js';
import { openSqliteStore } from '../../src/adapters/sqlite/store.js';
import { deliver, ev } from '../contract/store.contract.js';
import { makeDataDir, removeDir } from '../helpers/tmp.js';

void describe('SQLite checkpoint beside readers', () => {
  void it('completes while a reader holds an old snapshot, and the commits survive reopening', async () => {
    const dir = await makeDataDir();
    const file = join(dir, 'events.db');
    const store = openSqliteStore({ file });
    const reader = new Database(file, { readonly: true });
    try {
      await store.apply(deliver([ev({ topic: 'cp' })]), new Date());
      // A read transaction pinned at this snapshot, as a reader thread mid-page would be.
      reader.exec('BEGIN');
      reader.prepare('SELECT count(*) FROM events').pluck().get();
      await store.apply(deliver([ev({ topic: 'cp' }), ev({ topic: 'cp' })]), new Date());
      const started = Date.now();
      assert.doesNotThrow(() => store.checkpoint());
      assert.ok(Date.now() - started < 10_000, 'bounded by the busy timeout');
      reader.exec('COMMIT');
    } finally {
      reader.close();
      await store.close();
    }
    const again = openSqliteStore({ file });
    try {
      assert.equal(
        (await again.list({ after: 0, limit: 10, order: 'asc', topic: 'cp' })).length,
        3,
      );
    } finally {
      await again.close();
      await removeDir(dir);
    }
  });
});
