/**
 * Subscriber fan-out (src/http/shared-reads.ts) over a real SQLite store: subscribers at the
 * same position share one store read and the same bytes; other positions read on their own;
 * nothing is cached once a read is done.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openSqliteStore } from '../../src/adapters/sqlite/store.js';
import { SharedReads } from '../../src/http/shared-reads.js';
import type { EventReader } from '../../src/ports/store.js';
import { deliver, ev } from '../contract/store.contract.js';
import { makeDataDir, removeDir } from '../helpers/tmp.js';

void describe('shared subscriber reads', () => {
  void it('1,000 subscribers woken at the same position cost one store read per stored batch', async () => {
    const dir = await makeDataDir();
    const store = openSqliteStore({ file: join(dir, 'events.db') });
    try {
      let reads = 0;
      const counting: Pick<EventReader, 'page'> = {
        page: (...args) => {
          reads++;
          return store.page(...args);
        },
      };
      const shared = new SharedReads(counting, 500, 1 << 20);
      await store.apply(
        deliver(Array.from({ length: 10 }, () => ev({ topic: 'live' }))),
        new Date(),
      );

      const pages = await Promise.all(Array.from({ length: 1_000 }, () => shared.next('live', 0)));
      assert.equal(reads, 1);
      assert.ok(
        pages.every((p) => p.body === pages[0]?.body),
        'every socket writes the same bytes',
      );
      assert.equal(pages[0]?.count, 10);

      // The next batch: all caught up at the same offset, one read again.
      const at = pages[0]?.lastOffset ?? 0;
      await store.apply(deliver([ev({ topic: 'live' })]), new Date());
      const next = await Promise.all(Array.from({ length: 1_000 }, () => shared.next('live', at)));
      assert.equal(reads, 2);
      assert.equal(next[0]?.count, 1);

      // Different positions or topics are different reads; a finished read is not reused.
      await Promise.all([
        shared.next('live', 0),
        shared.next(undefined, 0),
        shared.next('other', 0),
      ]);
      assert.equal(reads, 5);
      assert.equal(shared.reads, 5);
    } finally {
      await store.close();
      await removeDir(dir);
    }
  });
});
