/**
 * The SQLite store keeps applied delivery positions as ranges of dense sequence numbers, so
 * it pairs only with a queue whose positions are `sequencePositions`. Both halves of that are
 * checked: a composition's `requireSqlitePositions` refuses any other kind at open, and an
 * apply reads each id's position through the port, refusing ids a sequence queue cannot make
 * (a Redis stream id, 0, non-canonical text beyond the range) with a TypeError naming the id
 * and changing nothing.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sequencePositions, streamPositions } from '../../src/adapters/positions.js';
import { openSqliteStore, requireSqlitePositions } from '../../src/adapters/sqlite/store.js';
import { ev } from '../contract/store.contract.js';
import { makeDataDir, removeDir } from '../helpers/tmp.js';

void describe('SQLite store and delivery positions', () => {
  void it('a composition pairing it with stream positions fails at open, naming both kinds', () => {
    requireSqlitePositions(sequencePositions);
    assert.throws(
      () => requireSqlitePositions(streamPositions),
      (err: unknown) =>
        err instanceof TypeError && /sequence/.test(err.message) && /stream/.test(err.message),
    );
  });

  void it('refuses ids a sequence queue cannot make, storing nothing', async () => {
    const dir = await makeDataDir();
    const store = openSqliteStore({ file: join(dir, 'events.db') });
    try {
      for (const id of ['1700000000000-1', '0', '-3', 'abc', '99999999999999999999']) {
        await assert.rejects(
          store.apply([{ id, event: ev({ topic: 'pos' }) }], new Date()),
          (err: unknown) => err instanceof TypeError && err.message.includes(id),
          `id ${id}`,
        );
      }
      assert.equal((await store.counters()).unique_processed, 0);
      // A canonical and a zero-padded spelling are one position: the second is redelivered.
      const [first] = (await store.apply([{ id: '7', event: ev({ topic: 'pos' }) }], new Date()))
        .items;
      const [again] = (await store.apply([{ id: '007', event: ev({ topic: 'pos' }) }], new Date()))
        .items;
      assert.equal(first?.status, 'stored');
      assert.equal(again?.status, 'redelivered');
    } finally {
      await store.close();
      await removeDir(dir);
    }
  });
});
