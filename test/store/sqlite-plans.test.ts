/**
 * Every /events filter combination is an index range bounded by the page size in SQLite:
 * EXPLAIN QUERY PLAN of the exact statement the store runs (reads.ts listSql) must SEARCH
 * an index (or the offset primary key) and never sort. Before migration 2, topic+source
 * searched the topic or source index and filtered every row of it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from '../../src/adapters/sqlite/driver.js';
import { listSql } from '../../src/adapters/sqlite/reads.js';
import { openSqliteStore } from '../../src/adapters/sqlite/store.js';
import type { EventsQuery } from '../../src/domain/schemas.js';
import { deliver, ev } from '../contract/store.contract.js';
import { makeDataDir, removeDir } from '../helpers/tmp.js';

interface PlanRow {
  readonly detail: string;
}

const combos: { name: string; query: Partial<EventsQuery>; index: RegExp }[] = [
  { name: 'no filter', query: {}, index: /INTEGER PRIMARY KEY/ },
  { name: 'before', query: { before: 500 }, index: /INTEGER PRIMARY KEY/ },
  { name: 'topic', query: { topic: 't3' }, index: /events_by_topic\b|events_by_topic_source/ },
  { name: 'source', query: { source: 's2' }, index: /events_by_source/ },
  {
    name: 'topic and source',
    query: { topic: 't3', source: 's2' },
    index: /events_by_topic_source/,
  },
  {
    name: 'topic, source and before',
    query: { topic: 't3', source: 's2', before: 900 },
    index: /events_by_topic_source/,
  },
];

void describe('SQLite query plans of /events', () => {
  for (const order of ['asc', 'desc'] as const) {
    for (const c of combos) {
      void it(`${c.name}, ${order}: an index search, no sort`, async () => {
        const dir = await makeDataDir();
        const file = join(dir, 'events.db');
        const store = openSqliteStore({ file });
        try {
          // Skewed data, as in production: few topics, a source spread over all of them.
          const events = Array.from({ length: 2_000 }, (_, i) =>
            ev({ topic: `t${i % 5}`, source: `s${i % 7}` }),
          );
          await store.apply(deliver(events), new Date());
          const reader = new Database(file, { readonly: true });
          try {
            const { sql, params } = listSql({ after: 0, limit: 100, order, ...c.query });
            const plan = reader
              .prepare<unknown[], PlanRow>(`EXPLAIN QUERY PLAN ${sql}`)
              .all(...params)
              .map((r) => r.detail);
            const text = plan.join(' | ');
            assert.match(text, /SEARCH events USING/, text);
            assert.match(text, c.index, text);
            assert.doesNotMatch(text, /TEMP B-TREE/, `sorts: ${text}`);
            assert.doesNotMatch(text, /SCAN events/, `scans: ${text}`);
          } finally {
            reader.close();
          }
        } finally {
          await store.close();
          await removeDir(dir);
        }
      });
    }
  }
});
