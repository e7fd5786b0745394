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
  {
    version: 2,
    name: 'apply_batch: a whole apply in one statement',
    sql: (s) => `
-- One apply in one round trip. Called outside BEGIN, the call is its own transaction: it
-- commits when the statement returns, so the offset lock taken inside is held from before
-- the offsets are drawn until that commit, with no client round trip in between (before
-- this, the lock holder waited for Node between its INSERT, counter UPDATE and COMMIT, and
-- every other writer of the namespace waited behind it).
--
-- Input: one entry per delivery, in batch order, each delivery id listed once. Ids travel as
-- two comma-separated integer lists; topic, event_id, timestamp, source and payload as texts
-- joined by U+001F, which none of them can contain (validation refuses control characters in
-- names, and JSON text has none raw); a list of another length is refused. p_first says, per
-- entry, whether it is the first entry of its key (topic, event_id) in the batch ('1'/'0').
-- Arrays are only ever read with unnest (one linear pass), never subscripted: a subscript on
-- an array of texts walks it from the start.
--
-- Guarantees:
-- * a delivery id already recorded is 'redelivered' and changes nothing; recording goes
--   through the primary key, so of two transactions recording one id, exactly one applies
--   it (the other waits for its outcome);
-- * a key (topic, event_id) is stored once: its first entry in the batch is inserted when it
--   is fresh and the key is not stored yet; every other fresh entry of the key counts as a
--   duplicate (of the row stored earlier, or of this batch's first entry). When the first
--   entry is not fresh, it was applied by a committed transaction, so the key is stored and
--   every fresh entry of it is a duplicate of that row;
-- * offsets: the entry at batch position p gets offset base + p, where base + 1 is drawn
--   from event_offsets under the namespace's offset lock (pg_advisory_xact_lock, held until
--   COMMIT) and the sequence is moved past base + n. Offsets therefore grow in commit order
--   and in batch order, and a reader paging with "after" never skips a row committed later.
--   Positions that store nothing leave gaps (offsets are strictly increasing, not dense);
-- * counters change in the same transaction as the rows they count, on this instance's shard.
--
-- Returns base (null when nothing was inserted) and one token per entry, comma-separated:
-- 'r' redelivered; '' fresh, key stored by this call (at base + the position of its first
-- entry); digits: fresh, a duplicate of the row stored earlier at that offset.
CREATE FUNCTION ${s}.apply_batch(
  p_ms text, p_seq text, p_first text,
  p_topic text, p_event_id text, p_ts text, p_source text, p_payload text,
  p_processed_at timestamptz, p_shard smallint, p_lock_class integer, p_lock_key integer,
  OUT base bigint, OUT outcome text)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_ms bigint[] := string_to_array(p_ms, ',')::bigint[];
  v_seq bigint[] := string_to_array(p_seq, ',')::bigint[];
  v_first boolean[] := string_to_array(p_first, ',')::boolean[];
  v_topic text[] := string_to_array(p_topic, chr(31));
  v_id text[] := string_to_array(p_event_id, chr(31));
  v_ts text[] := string_to_array(p_ts, chr(31));
  v_source text[] := string_to_array(p_source, chr(31));
  v_payload text[] := string_to_array(p_payload, chr(31));
  v_n integer := cardinality(v_ms);
  v_fresh boolean[];  -- per entry: delivery recorded by this call, so applied by it
  v_prev bigint[];    -- per fresh entry: offset of its key's row stored by an earlier transaction
  v_todo bigint;      -- entries to insert: fresh, first of a key not stored yet
  v_json json[];      -- per entry: its payload parsed when it is to be inserted, else null
  v_inserted bigint;
BEGIN
  IF v_n IS NULL OR v_n = 0 OR cardinality(v_seq) <> v_n OR cardinality(v_first) <> v_n
     OR cardinality(v_topic) <> v_n OR cardinality(v_id) <> v_n OR cardinality(v_ts) <> v_n
     OR cardinality(v_source) <> v_n OR cardinality(v_payload) <> v_n THEN
    RAISE EXCEPTION 'apply_batch: field lists of different lengths (a value holds U+001F?)';
  END IF;

  -- (a) Record the delivery ids, sorted so overlapping batches lock them in one order.
  -- Redeliveries are rare, so first a plain INSERT (every id new); only if one is already
  -- recorded, the subtransaction rolls back and ON CONFLICT sorts them out. Either way a
  -- concurrent transaction recording the same id makes this one wait for its outcome.
  BEGIN
    INSERT INTO ${s}.applied_deliveries (ms, seq)
    SELECT u.ms, u.seq FROM unnest(v_ms, v_seq) AS u(ms, seq) ORDER BY u.ms, u.seq;
    v_fresh := array_fill(true, ARRAY[v_n]);
  EXCEPTION WHEN unique_violation THEN
    WITH rec AS (
      INSERT INTO ${s}.applied_deliveries AS a (ms, seq)
      SELECT u.ms, u.seq FROM unnest(v_ms, v_seq) AS u(ms, seq) ORDER BY u.ms, u.seq
      ON CONFLICT (ms, seq) DO NOTHING
      RETURNING a.ms, a.seq
    )
    SELECT array_agg(rec.seq IS NOT NULL ORDER BY u.pos) INTO v_fresh
    FROM unnest(v_ms, v_seq) WITH ORDINALITY AS u(ms, seq, pos)
    LEFT JOIN rec ON rec.ms = u.ms AND rec.seq = u.seq;
  END;

  -- (b) Still before the lock: the keys stored earlier, how many rows to insert, and their
  -- payloads parsed (json_in validates), so the lock covers little more than the writes.
  SELECT array_agg(e.seq ORDER BY u.pos),
         count(*) FILTER (WHERE u.fresh AND u.first AND e.seq IS NULL),
         array_agg(CASE WHEN u.fresh AND u.first AND e.seq IS NULL THEN u.payload::json END
                   ORDER BY u.pos)
  INTO v_prev, v_todo, v_json
  FROM unnest(v_topic, v_id, v_fresh, v_first, v_payload) WITH ORDINALITY
    AS u(topic, event_id, fresh, first, payload, pos)
  LEFT JOIN ${s}.events e ON u.fresh AND e.topic = u.topic AND e.event_id = u.event_id;

  IF v_todo > 0 THEN
    -- (c) Offsets are drawn and made visible in one global order from here to COMMIT.
    PERFORM pg_advisory_xact_lock(p_lock_class, p_lock_key);
    base := nextval('${s}.event_offsets') - 1;
    PERFORM setval('${s}.event_offsets', base + v_n);
    -- A key stored between (b) and the lock is rare: first a plain INSERT (cheaper than
    -- ON CONFLICT's speculative insertion); on a conflict its subtransaction rolls back and
    -- the rows go in again with ON CONFLICT DO NOTHING.
    BEGIN
      INSERT INTO ${s}.events (seq, topic, event_id, ts, source, payload, processed_at)
      SELECT base + u.pos, u.topic, u.event_id, u.ts, u.source, u.payload, p_processed_at
      FROM unnest(v_topic, v_id, v_ts, v_source, v_json)
        WITH ORDINALITY AS u(topic, event_id, ts, source, payload, pos)
      WHERE u.payload IS NOT NULL;
    EXCEPTION WHEN unique_violation THEN
      INSERT INTO ${s}.events (seq, topic, event_id, ts, source, payload, processed_at)
      SELECT base + u.pos, u.topic, u.event_id, u.ts, u.source, u.payload, p_processed_at
      FROM unnest(v_topic, v_id, v_ts, v_source, v_json)
        WITH ORDINALITY AS u(topic, event_id, ts, source, payload, pos)
      WHERE u.payload IS NOT NULL
      ON CONFLICT (topic, event_id) DO NOTHING;
      GET DIAGNOSTICS v_inserted = ROW_COUNT;
      -- Some of these keys were stored by a transaction that committed between (b) and the
      -- lock. Every fresh entry whose key's row is not the one it inserted itself (at base +
      -- its position) is a duplicate of that row.
      IF v_inserted < v_todo THEN
        SELECT array_agg(coalesce(u.prev, nullif(e.seq, base + u.pos)) ORDER BY u.pos)
        INTO v_prev
        FROM unnest(v_topic, v_id, v_fresh, v_prev) WITH ORDINALITY
          AS u(topic, event_id, fresh, prev, pos)
        LEFT JOIN ${s}.events e
          ON u.fresh AND e.topic = u.topic AND e.event_id = u.event_id;
      END IF;
    END;
  END IF;

  -- (d) Counters: per topic, the fresh entries and the rows stored; duplicates are the rest.
  IF true = ANY (v_fresh) THEN
    WITH t AS (
      SELECT u.topic, count(*) AS fresh,
             count(*) FILTER (WHERE u.first AND u.prev IS NULL) AS uniq,
             max(base + u.pos) FILTER (WHERE u.first AND u.prev IS NULL) AS last_offset
      FROM unnest(v_topic, v_fresh, v_first, v_prev) WITH ORDINALITY
        AS u(topic, fresh, first, prev, pos)
      WHERE u.fresh
      GROUP BY u.topic
    ), total AS (
      INSERT INTO ${s}.counters AS c (shard, unique_processed, duplicate_dropped)
      SELECT p_shard, sum(t.uniq), sum(t.fresh - t.uniq) FROM t
      ON CONFLICT (shard) DO UPDATE SET
        unique_processed = c.unique_processed + excluded.unique_processed,
        duplicate_dropped = c.duplicate_dropped + excluded.duplicate_dropped
    )
    INSERT INTO ${s}.topic_counters AS tc
      (topic, shard, unique_count, duplicates, last_offset, last_processed_at)
    SELECT t.topic, p_shard, t.uniq, t.fresh - t.uniq, t.last_offset,
           CASE WHEN t.uniq > 0 THEN p_processed_at END
    FROM t
    ON CONFLICT (topic, shard) DO UPDATE SET
      unique_count = tc.unique_count + excluded.unique_count,
      duplicates = tc.duplicates + excluded.duplicates,
      last_offset = GREATEST(tc.last_offset, excluded.last_offset),
      last_processed_at = GREATEST(tc.last_processed_at, excluded.last_processed_at);
  END IF;

  SELECT string_agg(CASE WHEN NOT u.fresh THEN 'r' ELSE coalesce(u.prev::text, '') END, ','
                    ORDER BY u.pos)
  INTO outcome
  FROM unnest(v_fresh, v_prev) WITH ORDINALITY AS u(fresh, prev, pos);
END
$fn$;
`,
  },
  {
    version: 3,
    name: 'retention: compact dedup keys apart from events, events partitioned by offset',
    sql: (s) => `
-- (1) Dedup keys outlive their events. One row per key: the 24-byte key of
-- src/domain/dedup-key.ts, the offset first stored under it, and when (for DEDUP_WINDOW). Every existing event's key moves here in this migration,
-- so no stored event lacks its key afterwards.
-- The key as src/domain/dedup-key.ts builds it: the first 8 bytes of the event_id
-- (zero-padded) for locality, then 16 bytes of SHA-256(topic, 0x00, event_id) for identity.
CREATE FUNCTION ${s}.dedup_key(p_topic text, p_event_id text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $k$
  SELECT substring(convert_to(p_event_id, 'UTF8') || decode('0000000000000000', 'hex') FROM 1 FOR 8)
         || substring(sha256(convert_to(p_topic, 'UTF8') || decode('00', 'hex')
                             || convert_to(p_event_id, 'UTF8')) FROM 1 FOR 16)
$k$;
CREATE TABLE ${s}.dedup_keys (
  key        bytea       PRIMARY KEY,
  seq        bigint      NOT NULL,
  first_seen timestamptz NOT NULL
);
INSERT INTO ${s}.dedup_keys (key, seq, first_seen)
SELECT ${s}.dedup_key(topic, event_id), seq, processed_at FROM ${s}.events ORDER BY 1;

-- (2) Events are partitioned by offset range (plain declarative partitioning), so expiry
-- drops whole partitions instead of deleting rows: no dead tuples, no vacuum debt, and the
-- space goes back to the file system at once. The existing table becomes the first
-- partition as it is (no copy); its UNIQUE (topic, event_id) goes: dedup_keys is the key.
-- A partition spans partition_span offsets, aligned on multiples of it; apply_batch
-- creates the next one when a batch needs it (the store also creates it ahead of time).
ALTER TABLE ${s}.events DROP CONSTRAINT events_key;
ALTER TABLE ${s}.events RENAME TO events_0;
ALTER INDEX ${s}.events_pkey RENAME TO events_0_pkey;
ALTER INDEX ${s}.events_topic_seq RENAME TO events_0_topic_seq;
ALTER INDEX ${s}.events_source_seq RENAME TO events_0_source_seq;
CREATE TABLE ${s}.events (
  seq          bigint      NOT NULL,
  topic        text        COLLATE "C" NOT NULL,
  event_id     text        COLLATE "C" NOT NULL,
  ts           text        NOT NULL,
  source       text        COLLATE "C" NOT NULL,
  payload      json        NOT NULL,
  processed_at timestamptz NOT NULL,
  PRIMARY KEY (seq)
) PARTITION BY RANGE (seq);
CREATE INDEX events_topic_seq ON ${s}.events (topic, seq);
CREATE INDEX events_source_seq ON ${s}.events (source, seq);
CREATE TABLE ${s}.partition_span (
  id   smallint PRIMARY KEY CHECK (id = 1),
  span bigint   NOT NULL CHECK (span > 0)
);
INSERT INTO ${s}.partition_span VALUES (1, 100000);
-- The partitions, oldest first; written with the DDL that creates or drops each one.
CREATE TABLE ${s}.event_partitions (
  lo   bigint PRIMARY KEY,
  hi   bigint NOT NULL,
  name text   NOT NULL
);
DO $do$
DECLARE v_hi bigint;
BEGIN
  SELECT (coalesce(max(seq), 0) / 100000 + 1) * 100000 INTO v_hi FROM ${s}.events_0;
  EXECUTE format('ALTER TABLE ${s}.events ATTACH PARTITION ${s}.events_0 FOR VALUES FROM (0) TO (%s)', v_hi);
  INSERT INTO ${s}.event_partitions VALUES (0, v_hi, 'events_0');
END
$do$;

-- (3) Retention counters, sharded like the others: stored (retained now), expired
-- (removed, lifetime), stored_bytes (eventBytes of the retained events). Existing events are
-- all retained; they are counted on shard 0 (only the sums mean anything).
ALTER TABLE ${s}.counters
  ADD COLUMN stored bigint NOT NULL DEFAULT 0,
  ADD COLUMN expired bigint NOT NULL DEFAULT 0,
  ADD COLUMN stored_bytes bigint NOT NULL DEFAULT 0;
INSERT INTO ${s}.counters AS c (shard, stored, stored_bytes)
SELECT 0, count(*), coalesce(sum(octet_length(topic) + octet_length(event_id) + octet_length(ts)
                                 + octet_length(source) + octet_length(payload::text)), 0)
FROM ${s}.events_0
ON CONFLICT (shard) DO UPDATE SET stored = c.stored + excluded.stored,
  stored_bytes = c.stored_bytes + excluded.stored_bytes;
ALTER TABLE ${s}.topic_counters ADD COLUMN stored bigint NOT NULL DEFAULT 0;
UPDATE ${s}.topic_counters tc SET stored = x.n
FROM (SELECT topic, count(*) AS n FROM ${s}.events_0 GROUP BY topic) x
WHERE tc.topic = x.topic
  AND tc.shard = (SELECT min(t2.shard) FROM ${s}.topic_counters t2 WHERE t2.topic = x.topic);

-- (4) apply_batch again, same arguments and answer as migration 2 (see its comment), with
-- the key in dedup_keys instead of the events' unique index:
-- * a key (topic, event_id) is stored once: its first fresh entry in the batch is inserted
--   when dedup_keys has no row for it; that row stays after the event expires, so a re-sent
--   expired event is still a duplicate (of its old offset);
-- * the key row is inserted before the event row, under the offset lock; a key inserted
--   meanwhile by another instance turns the entry into a duplicate (ON CONFLICT fallback);
-- * the partitions the batch's offsets fall in exist before the insert (created under the
--   offset lock, so two instances never create the same one);
-- * stored and stored_bytes change with the rows, on this instance's shard.
CREATE OR REPLACE FUNCTION ${s}.apply_batch(
  p_ms text, p_seq text, p_first text,
  p_topic text, p_event_id text, p_ts text, p_source text, p_payload text,
  p_processed_at timestamptz, p_shard smallint, p_lock_class integer, p_lock_key integer,
  OUT base bigint, OUT outcome text)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_ms bigint[] := string_to_array(p_ms, ',')::bigint[];
  v_seq bigint[] := string_to_array(p_seq, ',')::bigint[];
  v_first boolean[] := string_to_array(p_first, ',')::boolean[];
  v_topic text[] := string_to_array(p_topic, chr(31));
  v_id text[] := string_to_array(p_event_id, chr(31));
  v_ts text[] := string_to_array(p_ts, chr(31));
  v_source text[] := string_to_array(p_source, chr(31));
  v_payload text[] := string_to_array(p_payload, chr(31));
  v_n integer := cardinality(v_ms);
  v_key bytea[];      -- per entry: its compact dedup key
  v_fresh boolean[];  -- per entry: delivery recorded by this call, so applied by it
  v_prev bigint[];    -- per fresh entry: offset of its key's row stored by an earlier transaction
  v_todo bigint;      -- entries to insert: fresh, first of a key not stored yet
  v_json json[];      -- per entry: its payload parsed when it is to be inserted, else null
  v_inserted bigint;
  v_span bigint;
  v_lo bigint;
BEGIN
  IF v_n IS NULL OR v_n = 0 OR cardinality(v_seq) <> v_n OR cardinality(v_first) <> v_n
     OR cardinality(v_topic) <> v_n OR cardinality(v_id) <> v_n OR cardinality(v_ts) <> v_n
     OR cardinality(v_source) <> v_n OR cardinality(v_payload) <> v_n THEN
    RAISE EXCEPTION 'apply_batch: field lists of different lengths (a value holds U+001F?)';
  END IF;

  -- (a) Record the delivery ids (as in migration 2).
  BEGIN
    INSERT INTO ${s}.applied_deliveries (ms, seq)
    SELECT u.ms, u.seq FROM unnest(v_ms, v_seq) AS u(ms, seq) ORDER BY u.ms, u.seq;
    v_fresh := array_fill(true, ARRAY[v_n]);
  EXCEPTION WHEN unique_violation THEN
    WITH rec AS (
      INSERT INTO ${s}.applied_deliveries AS a (ms, seq)
      SELECT u.ms, u.seq FROM unnest(v_ms, v_seq) AS u(ms, seq) ORDER BY u.ms, u.seq
      ON CONFLICT (ms, seq) DO NOTHING
      RETURNING a.ms, a.seq
    )
    SELECT array_agg(rec.seq IS NOT NULL ORDER BY u.pos) INTO v_fresh
    FROM unnest(v_ms, v_seq) WITH ORDINALITY AS u(ms, seq, pos)
    LEFT JOIN rec ON rec.ms = u.ms AND rec.seq = u.seq;
  END;

  -- (b) Still before the lock: the keys, the keys stored earlier, how many rows to insert,
  -- and their payloads parsed.
  SELECT array_agg(${s}.dedup_key(u.topic, u.event_id) ORDER BY u.pos)
  INTO v_key
  FROM unnest(v_topic, v_id) WITH ORDINALITY AS u(topic, event_id, pos);
  SELECT array_agg(k.seq ORDER BY u.pos),
         count(*) FILTER (WHERE u.fresh AND u.first AND k.seq IS NULL),
         array_agg(CASE WHEN u.fresh AND u.first AND k.seq IS NULL THEN u.payload::json END
                   ORDER BY u.pos)
  INTO v_prev, v_todo, v_json
  FROM unnest(v_key, v_fresh, v_first, v_payload) WITH ORDINALITY
    AS u(key, fresh, first, payload, pos)
  LEFT JOIN ${s}.dedup_keys k ON u.fresh AND k.key = u.key;

  IF v_todo > 0 THEN
    -- (c) Offsets are drawn and made visible in one global order from here to COMMIT.
    PERFORM pg_advisory_xact_lock(p_lock_class, p_lock_key);
    base := nextval('${s}.event_offsets') - 1;
    PERFORM setval('${s}.event_offsets', base + v_n);
    -- The partitions for base + 1 .. base + v_n (usually they exist already).
    SELECT span INTO v_span FROM ${s}.partition_span WHERE id = 1;
    SELECT coalesce(max(hi), ((base + 1) / v_span) * v_span) INTO v_lo FROM ${s}.event_partitions;
    WHILE v_lo <= base + v_n LOOP
      EXECUTE format('CREATE TABLE ${s}.%I PARTITION OF ${s}.events FOR VALUES FROM (%s) TO (%s)',
                     'events_' || v_lo, v_lo, v_lo + v_span);
      INSERT INTO ${s}.event_partitions VALUES (v_lo, v_lo + v_span, 'events_' || v_lo);
      v_lo := v_lo + v_span;
    END LOOP;
    -- The keys first: a plain INSERT; on a conflict (a key stored between (b) and the lock,
    -- rare) its subtransaction rolls back and the keys go in with ON CONFLICT DO NOTHING,
    -- and every fresh entry whose key row is not its own is a duplicate of that row.
    BEGIN
      INSERT INTO ${s}.dedup_keys (key, seq, first_seen)
      SELECT u.key, base + u.pos, p_processed_at
      FROM unnest(v_key, v_json) WITH ORDINALITY AS u(key, payload, pos)
      WHERE u.payload IS NOT NULL;
    EXCEPTION WHEN unique_violation THEN
      INSERT INTO ${s}.dedup_keys (key, seq, first_seen)
      SELECT u.key, base + u.pos, p_processed_at
      FROM unnest(v_key, v_json) WITH ORDINALITY AS u(key, payload, pos)
      WHERE u.payload IS NOT NULL
      ON CONFLICT (key) DO NOTHING;
      GET DIAGNOSTICS v_inserted = ROW_COUNT;
      IF v_inserted < v_todo THEN
        SELECT array_agg(coalesce(u.prev, nullif(k.seq, base + u.pos)) ORDER BY u.pos)
        INTO v_prev
        FROM unnest(v_key, v_fresh, v_prev) WITH ORDINALITY AS u(key, fresh, prev, pos)
        LEFT JOIN ${s}.dedup_keys k ON u.fresh AND k.key = u.key;
        -- Entries that lost their key are not inserted.
        SELECT array_agg(CASE WHEN u.prev IS NULL THEN u.payload END ORDER BY u.pos)
        INTO v_json
        FROM unnest(v_json, v_prev) WITH ORDINALITY AS u(payload, prev, pos);
      END IF;
    END;
    INSERT INTO ${s}.events (seq, topic, event_id, ts, source, payload, processed_at)
    SELECT base + u.pos, u.topic, u.event_id, u.ts, u.source, u.payload, p_processed_at
    FROM unnest(v_topic, v_id, v_ts, v_source, v_json)
      WITH ORDINALITY AS u(topic, event_id, ts, source, payload, pos)
    WHERE u.payload IS NOT NULL;
  END IF;

  -- (d) Counters: per topic, the fresh entries and the rows stored (and their bytes).
  IF true = ANY (v_fresh) THEN
    WITH t AS (
      SELECT u.topic, count(*) AS fresh,
             count(*) FILTER (WHERE u.first AND u.prev IS NULL) AS uniq,
             coalesce(sum(octet_length(u.topic) + octet_length(u.event_id) + octet_length(u.ts)
                          + octet_length(u.source) + octet_length(u.payload))
                      FILTER (WHERE u.first AND u.prev IS NULL), 0) AS bytes,
             max(base + u.pos) FILTER (WHERE u.first AND u.prev IS NULL) AS last_offset
      FROM unnest(v_topic, v_id, v_ts, v_source, v_payload, v_fresh, v_first, v_prev)
        WITH ORDINALITY AS u(topic, event_id, ts, source, payload, fresh, first, prev, pos)
      WHERE u.fresh
      GROUP BY u.topic
    ), total AS (
      INSERT INTO ${s}.counters AS c (shard, unique_processed, duplicate_dropped, stored, stored_bytes)
      SELECT p_shard, sum(t.uniq), sum(t.fresh - t.uniq), sum(t.uniq), sum(t.bytes) FROM t
      ON CONFLICT (shard) DO UPDATE SET
        unique_processed = c.unique_processed + excluded.unique_processed,
        duplicate_dropped = c.duplicate_dropped + excluded.duplicate_dropped,
        stored = c.stored + excluded.stored,
        stored_bytes = c.stored_bytes + excluded.stored_bytes
    )
    INSERT INTO ${s}.topic_counters AS tc
      (topic, shard, unique_count, duplicates, stored, last_offset, last_processed_at)
    SELECT t.topic, p_shard, t.uniq, t.fresh - t.uniq, t.uniq, t.last_offset,
           CASE WHEN t.uniq > 0 THEN p_processed_at END
    FROM t
    ON CONFLICT (topic, shard) DO UPDATE SET
      unique_count = tc.unique_count + excluded.unique_count,
      duplicates = tc.duplicates + excluded.duplicates,
      stored = tc.stored + excluded.stored,
      last_offset = GREATEST(tc.last_offset, excluded.last_offset),
      last_processed_at = GREATEST(tc.last_processed_at, excluded.last_processed_at);
  END IF;

  SELECT string_agg(CASE WHEN NOT u.fresh THEN 'r' ELSE coalesce(u.prev::text, '') END, ','
                    ORDER BY u.pos)
  INTO outcome
  FROM unnest(v_fresh, v_prev) WITH ORDINALITY AS u(fresh, prev, pos);
END
$fn$;
`,
  },
  {
    version: 4,
    name: 'index for /events?topic=&source=',
    sql: (s) => `
-- GET /events?topic=X&source=Y: an index range bounded by the page. Without it the planner
-- picks (topic, seq) or (source, seq) and filters every row of that topic or source.
CREATE INDEX events_topic_source_seq ON ${s}.events (topic, source, seq);
`,
  },
  {
    version: 5,
    name: 'delivery floor: ids below the pruned floor are redelivered',
    sql: (s) => `
-- Applied delivery ids are forgotten once the queue reports they can never be handed out
-- again (acked). A copy that an instance read before a pause (SIGSTOP, VM pause, long GC, a
-- partition) can still reach the store afterwards, whatever the pause length; without a
-- record of its id it would count as a duplicate a second time. So the store keeps the
-- floor it pruned below, and every id below it counts as applied.
--
-- Guarantees:
-- * the floor only rises (raise_delivery_floor keeps the larger of the two);
-- * an apply reads the floor under a shared advisory lock of the namespace (class
--   p_floor_class) held until its COMMIT, and a raise takes that lock exclusively: a raise
--   waits for every apply in flight, and an apply that starts later sees the new floor.
--   Rows below the floor are deleted only after the raise committed, so an id is always
--   either still recorded or below a floor every apply sees;
-- * an entry whose id is below the floor answers 'redelivered' and changes nothing: it is
--   recorded here, in the same transaction, before apply_batch records the batch's ids, so
--   apply_batch finds it recorded (a later prune deletes the row again);
-- * the apply commits with synchronous_commit = on whatever the server, database, role or
--   session says (set_config local to the transaction, so it holds through any pooler): the
--   worker XACKs as soon as the call returns, and a commit that a server crash could still
--   lose would lose acknowledged events.
CREATE TABLE ${s}.delivery_floor (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  ms        bigint  NOT NULL,
  seq       bigint  NOT NULL
);
INSERT INTO ${s}.delivery_floor (ms, seq) VALUES (0, 0);

CREATE FUNCTION ${s}.apply_batch_above_floor(
  p_ms text, p_seq text, p_first text,
  p_topic text, p_event_id text, p_ts text, p_source text, p_payload text,
  p_processed_at timestamptz, p_shard smallint, p_lock_class integer, p_lock_key integer,
  p_floor_class integer, p_min_ms bigint, p_min_seq bigint,
  OUT base bigint, OUT outcome text)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_floor_ms bigint;
  v_floor_seq bigint;
BEGIN
  PERFORM set_config('synchronous_commit', 'on', true);
  PERFORM pg_advisory_xact_lock_shared(p_floor_class, p_lock_key);
  SELECT f.ms, f.seq INTO v_floor_ms, v_floor_seq FROM ${s}.delivery_floor f;
  -- (p_min_ms, p_min_seq) is the batch's smallest id: the ids are parsed a second time only
  -- when some of them are below the floor, which is rare (a late copy).
  IF (p_min_ms, p_min_seq) < (v_floor_ms, v_floor_seq) THEN
    INSERT INTO ${s}.applied_deliveries (ms, seq)
    SELECT u.ms, u.seq
    FROM unnest(string_to_array(p_ms, ',')::bigint[], string_to_array(p_seq, ',')::bigint[])
      AS u(ms, seq)
    WHERE (u.ms, u.seq) < (v_floor_ms, v_floor_seq)
    ORDER BY u.ms, u.seq
    ON CONFLICT (ms, seq) DO NOTHING;
  END IF;
  SELECT b.base, b.outcome INTO base, outcome
  FROM ${s}.apply_batch(p_ms, p_seq, p_first, p_topic, p_event_id, p_ts, p_source, p_payload,
                        p_processed_at, p_shard, p_lock_class, p_lock_key) AS b;
END
$fn$;

-- Raises the floor to (p_ms, p_seq) unless it is already higher; returns the floor in force.
-- Called outside BEGIN: the exclusive lock is held only until this statement commits.
CREATE FUNCTION ${s}.raise_delivery_floor(
  p_ms bigint, p_seq bigint, p_floor_class integer, p_lock_key integer,
  OUT ms bigint, OUT seq bigint)
LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM set_config('synchronous_commit', 'on', true);
  PERFORM pg_advisory_xact_lock(p_floor_class, p_lock_key);
  UPDATE ${s}.delivery_floor f SET ms = p_ms, seq = p_seq
  WHERE (f.ms, f.seq) < (p_ms, p_seq);
  SELECT f.ms, f.seq INTO ms, seq FROM ${s}.delivery_floor f;
END
$fn$;
`,
  },
];

/** Advisory lock class ids ("LS" + purpose), paired with the namespace's hash. */
export const LOCK_CLASS = {
  migrate: 0x4c53_0001,
  offsets: 0x4c53_0002,
  expiry: 0x4c53_0003,
  deliveryFloor: 0x4c53_0004,
} as const;

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
