/**
 * Every /events filter combination is an index range bounded by the page size in SQLite:
 * EXPLAIN QUERY PLAN of the exact statement the store runs (reads.ts listSql) must SEARCH
 * an index (or the offset primary key) and never sort. Before migration 2, topic+source
 * searched the topic or source index and filtered every row of it. Checked in bucket 0 (the
 * `events` table of every schema) and in a bucket the store created (`events_1`, buckets.ts).
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

const combos: { name: string; query: Partial<EventsQuery>; index: (t: string) => RegExp }[] = [
  { name: 'no filter', query: {}, index: () => /INTEGER PRIMARY KEY/ },
  { name: 'before', query: { before: 1_500 }, index: () => /INTEGER PRIMARY KEY/ },
  {
    name: 'topic',
    query: { topic: 't3' },
    index: (t) => new RegExp(`${t}_by_topic\\b|${t}_by_topic_source`),
  },
  { name: 'source', query: { source: 's2' }, index: (t) => new RegExp(`${t}_by_source`) },
  {
    name: 'topic and source',
    query: { topic: 't3', source: 's2' },
    index: (t) => new RegExp(`${t}_by_topic_source`),
  },
  {
    name: 'topic, source and before',
    query: { topic: 't3', source: 's2', before: 1_900 },
    index: (t) => new RegExp(`${t}_by_topic_source`),
  },
];

void describe('SQLite query plans of /events', () => {
  for (const table of ['events', 'events_1']) {
    for (const order of ['asc', 'desc'] as const) {
      for (const c of combos) {
        void it(`${table}: ${c.name}, ${order}: an index search, no sort`, async () => {
          const dir = await makeDataDir();
          const file = join(dir, 'events.db');
          // Two batches of 1,000 in buckets of 1,000: the second goes to events_1.
          const store = openSqliteStore({ file, bucketRows: 1_000 });
          try {
            // Skewed data, as in production: few topics, a source spread over all of them.
            for (let b = 0; b < 2; b++) {
              const events = Array.from({ length: 1_000 }, (_, i) =>
                ev({ topic: `t${i % 5}`, source: `s${i % 7}` }),
              );
              await store.apply(deliver(events), new Date());
            }
            const reader = new Database(file, { readonly: true });
            try {
              const { sql, params } = listSql({ after: 0, limit: 100, order, ...c.query }, table);
              const plan = reader
                .prepare<unknown[], PlanRow>(`EXPLAIN QUERY PLAN ${sql}`)
                .all(...params)
                .map((r) => r.detail);
              const text = plan.join(' | ');
              assert.match(text, new RegExp(`SEARCH ${table} USING`), text);
              assert.match(text, c.index(table), text);
              assert.doesNotMatch(text, /TEMP B-TREE/, `sorts: ${text}`);
              assert.doesNotMatch(text, /SCAN /, `scans: ${text}`);
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
  }
});
