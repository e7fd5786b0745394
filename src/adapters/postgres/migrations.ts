/**
 * Numbered, append-only migrations of the PostgreSQL store. Each one is applied once per
 * schema (the namespace), recorded in `schema_migrations`, inside one transaction that holds
 * an advisory lock, so several instances starting at once apply it exactly once and none of
 * them sees a half-built schema. Never edit a released migration; add the next number.
 *
 * They live in TypeScript rather than .sql files so the build output and the Docker image
 * carry them without a copy step.
 */
import type { PoolClient } from 'pg';

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** SQL for the schema `s` (already a quoted identifier). */
  readonly sql: (s: string) => string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'events, applied deliveries, sharded counters',
    sql: (s) => `
-- The unique events. seq is the public "offset": taken from event_offsets under the offset
-- lock, so commit order = offset order (see store.ts). payload is json, not jsonb: json
-- keeps the exact text (key order, spacing, escapes), which the API returns byte for byte.
-- ts keeps the normalised RFC 3339 text, sub-millisecond digits included. Names use the "C"
-- collation: the dedup key compares byte for byte, topics sort as in SQLite, and index
-- upkeep does not pay for a locale whatever the database's default collation is.
CREATE SEQUENCE ${s}.event_offsets AS bigint;
CREATE TABLE ${s}.events (
  seq          bigint      PRIMARY KEY,
  topic        text        COLLATE "C" NOT NULL,
  event_id     text        COLLATE "C" NOT NULL,
  ts           text        NOT NULL,
  source       text        COLLATE "C" NOT NULL,
  payload      json        NOT NULL,
  processed_at timestamptz NOT NULL,
  CONSTRAINT events_key UNIQUE (topic, event_id)
);
CREATE INDEX events_topic_seq ON ${s}.events (topic, seq);
CREATE INDEX events_source_seq ON ${s}.events (source, seq);

-- Every queue delivery applied, written in the same transaction as its effects: a delivery
-- that comes back after a lost XACK is recognised and not counted again. A delivery id is a
-- Redis stream entry id "ms-seq" (or a plain integer, seq 0), kept as two integers so the
-- primary key is compact and ordered: pruning deletes a prefix of it (see store.ts).
CREATE TABLE ${s}.applied_deliveries (
  ms  bigint NOT NULL,
  seq bigint NOT NULL,
  PRIMARY KEY (ms, seq)
);

-- Lifetime counters, one row per shard (an instance writes its own shard), summed on read,
-- so instances never wait on one hot row.
CREATE TABLE ${s}.counters (
  shard             smallint PRIMARY KEY,
  unique_processed  bigint   NOT NULL DEFAULT 0,
  duplicate_dropped bigint   NOT NULL DEFAULT 0
);
CREATE TABLE ${s}.topic_counters (
  topic             text        COLLATE "C" NOT NULL,
  shard             smallint    NOT NULL,
  unique_count      bigint      NOT NULL DEFAULT 0,
  duplicates        bigint      NOT NULL DEFAULT 0,
  last_offset       bigint,
  last_processed_at timestamptz,
  PRIMARY KEY (topic, shard)
);
`,
  },
];

/** Advisory lock class ids ("LS" + purpose), paired with the namespace's hash. */
export const LOCK_CLASS = { migrate: 0x4c53_0001, offsets: 0x4c53_0002 } as const;

/** 32-bit FNV-1a of the namespace, as a signed int4 for pg_advisory_xact_lock(int, int). */
export function namespaceKey(namespace: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(namespace, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

/** Applies the pending migrations; returns the versions applied by this call. */
export async function migrate(
  client: PoolClient,
  schema: string,
  namespace: string,
): Promise<number[]> {
  const applied: number[] = [];
  await client.query('BEGIN');
  try {
    // Held until COMMIT: concurrent instances queue here and find the work done.
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [
      LOCK_CLASS.migrate,
      namespaceKey(namespace),
    ]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (
         version    integer     PRIMARY KEY,
         name       text        NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = await client.query<{ version: number }>(
      `SELECT version FROM ${schema}.schema_migrations`,
    );
    const have = new Set(done.rows.map((r) => r.version));
    for (const m of MIGRATIONS) {
      if (have.has(m.version)) continue;
      await client.query(m.sql(schema));
      await client.query(
        `INSERT INTO ${schema}.schema_migrations (version, name) VALUES ($1, $2)`,
        [m.version, m.name],
      );
      applied.push(m.version);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
  return applied;
}
