/**
 * Every /events filter combination is an index range bounded by the page size in
 * PostgreSQL: EXPLAIN of the exact statement the store runs (sql.ts pagedListQuery), on
 * analysed, skewed data, reads events through an index under a Limit and never scans the
 * table. Before migration 3, topic+source used (topic, seq) or (source, seq) and filtered
 * every row of it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import {
  pagedListQuery,
  quoteIdent,
  READ_SESSION_OPTIONS,
  statements,
} from '../../src/adapters/postgres/sql.js';
import { openPostgresStore, type PostgresStore } from '../../src/adapters/postgres/store.js';
import type { EventsQuery } from '../../src/domain/schemas.js';
import { deliver, ev } from '../contract/store.contract.js';
import {
  DATABASE_URL,
  clusterServicesSkipReason,
  dropPostgresSchema,
  randomNamespace,
} from './services.js';

const skip = await clusterServicesSkipReason();

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

function nodes(n: PlanNode): PlanNode[] {
  return [n, ...(n.Plans ?? []).flatMap(nodes)];
}

const combos: { name: string; query: Partial<EventsQuery>; index: RegExp }[] = [
  { name: 'no filter', query: {}, index: /^events(_\d+)?_pkey$/ },
  { name: 'before', query: { before: 15_000 }, index: /^events(_\d+)?_pkey$/ },
  { name: 'topic', query: { topic: 't3' }, index: /^events(_\d+)?_topic_(source_)?seq(_idx)?$/ },
  { name: 'source', query: { source: 's2' }, index: /^events(_\d+)?_source_seq(_idx)?$/ },
  {
    name: 'topic and source',
    query: { topic: 't3', source: 's2' },
    index: /^events(_\d+)?_topic_source_seq(_idx)?$/,
  },
  {
    name: 'topic, source and before',
    query: { topic: 't3', source: 's2', before: 15_000 },
    index: /^events(_\d+)?_topic_source_seq(_idx)?$/,
  },
];

void describe('PostgreSQL query plans of /events', { skip: skip ?? false }, () => {
  const namespace = randomNamespace();
  let store: PostgresStore;
  let client: pg.Client;
  before(async () => {
    store = await openPostgresStore({
      url: DATABASE_URL,
      namespace,
      poolMax: 2,
      consumerName: 'plans',
    });
    for (let b = 0; b < 10; b++) {
      const events = Array.from({ length: 2_000 }, (_, i) =>
        ev({ topic: `t${i % 5}`, source: `s${i % 7}` }),
      );
      await store.apply(deliver(events), new Date());
    }
    // The store's read connections use these settings; so does this one.
    client = new pg.Client({ connectionString: DATABASE_URL, options: READ_SESSION_OPTIONS });
    await client.connect();
    await client.query(`ANALYZE ${quoteIdent(namespace)}.events`);
  });
  after(async () => {
    await client.end();
    await store.close();
    await dropPostgresSchema(DATABASE_URL, namespace);
  });

  for (const order of ['asc', 'desc'] as const) {
    for (const limit of [100, 10_000]) {
      for (const c of combos) {
        void it(`${c.name}, ${order}, limit ${limit}: an index range under a Limit, no table scan`, async () => {
          const schema = quoteIdent(namespace);
          const { text, params } = pagedListQuery(
            schema,
            statements(schema).eventColumns,
            { after: 0, limit, order, ...c.query },
            32 * 1024 * 1024,
          );
          const r = await client.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
            `EXPLAIN (FORMAT JSON) ${text}`,
            params,
          );
          const plan = r.rows[0]?.['QUERY PLAN'][0]?.Plan;
          assert.ok(plan !== undefined);
          const all = nodes(plan);
          const summary = all
            .map((n) => `${n['Node Type']}${n['Index Name'] ? `(${n['Index Name']})` : ''}`)
            .join(' > ');
          assert.ok(!all.some((n) => n['Node Type'] === 'Seq Scan'), `table scan: ${summary}`);
          assert.ok(
            all.some((n) => n['Node Type'] === 'Limit'),
            `no limit: ${summary}`,
          );
          // Events are partitioned by offset range (retention): the planner reads the
          // partitions the range can touch, each through its copy of the index.
          const scans = all.filter((n) => /^events(_\d+)?$/.test(n['Relation Name'] ?? ''));
          assert.ok(scans.length >= 1, `events read: ${summary}`);
          for (const scan of scans) assert.match(scan['Index Name'] ?? '', c.index, summary);
          assert.ok(!all.some((n) => n['Node Type'] === 'Sort'), `sorts: ${summary}`);
        });
      }
    }
  }
});
