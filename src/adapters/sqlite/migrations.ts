/**
 * Numbered, append-only schema migrations of the SQLite store. Never edit a released entry;
 * add the next number. `user_version` records the last one applied.
 *
 * SQL functions the migrations may call (registered by store.ts before migrating):
 * - logsieve_key(topic, event_id): the compact dedup key (src/domain/dedup-key.ts).
 */
export const SQLITE_MIGRATIONS: readonly { readonly version: number; readonly sql: string }[] = [
  {
    version: 1,
    sql: `
      -- One row per unique (topic, event_id); "offset" is the rowid, assigned at commit by
      -- the single writer, so offset order is commit order.
      CREATE TABLE events (
        "offset"     INTEGER PRIMARY KEY,
        topic        TEXT NOT NULL,
        event_id     TEXT NOT NULL,
        timestamp    TEXT NOT NULL,
        source       TEXT NOT NULL,
        payload      TEXT NOT NULL,
        processed_at TEXT NOT NULL,
        UNIQUE (topic, event_id)
      );
      CREATE INDEX events_by_topic ON events (topic, "offset");
      CREATE INDEX events_by_source ON events (source, "offset");

      CREATE TABLE topics (
        topic             TEXT PRIMARY KEY,
        unique_count      INTEGER NOT NULL,
        duplicates        INTEGER NOT NULL,
        last_offset       INTEGER,
        last_processed_at TEXT
      ) WITHOUT ROWID;

      -- Lifetime counters, changed only in the transaction that changes what they count.
      CREATE TABLE counters (
        id                INTEGER PRIMARY KEY CHECK (id = 1),
        unique_processed  INTEGER NOT NULL,
        duplicate_dropped INTEGER NOT NULL
      );
      INSERT INTO counters VALUES (1, 0, 0);

      -- Queue sequence numbers already applied, as disjoint closed intervals. Written in the
      -- apply transaction: this is the consumer's position, kept with its results.
      CREATE TABLE applied_ranges (
        from_seq INTEGER PRIMARY KEY,
        to_seq   INTEGER NOT NULL
      );
    `,
  },
  {
    version: 2,
    sql: `
      -- Retention with permanent dedup. Dedup keys move out of the events table into a
      -- compact key store that outlives the events: 24-byte key (src/domain/dedup-key.ts), the offset of the
      -- event first stored under it, and when (unix seconds, for DEDUP_WINDOW). WITHOUT
      -- ROWID: the key is the B-tree key, nothing else is stored per key.
      CREATE TABLE dedup_keys (
        key        BLOB    PRIMARY KEY,
        "offset"   INTEGER NOT NULL,
        first_seen INTEGER NOT NULL
      ) WITHOUT ROWID;
      -- Every existing event's key moves into the key store here, in the same transaction
      -- as the rest: after this migration no stored event lacks its key. Sorted, so the
      -- B-tree is built in order (fast, and its pages full).
      INSERT INTO dedup_keys (key, "offset", first_seen)
      SELECT logsieve_key(topic, event_id), "offset", CAST(unixepoch(processed_at) AS INTEGER)
      FROM events ORDER BY 1;

      -- The events table is rebuilt without UNIQUE (topic, event_id): that index was the
      -- dedup key, which now lives (compactly) in dedup_keys; /events/:topic/:event_id finds
      -- a row through it. Offsets are copied as they are.
      CREATE TABLE events_v2 (
        "offset"     INTEGER PRIMARY KEY,
        topic        TEXT NOT NULL,
        event_id     TEXT NOT NULL,
        timestamp    TEXT NOT NULL,
        source       TEXT NOT NULL,
        payload      TEXT NOT NULL,
        processed_at TEXT NOT NULL
      );
      INSERT INTO events_v2 SELECT "offset", topic, event_id, timestamp, source, payload, processed_at
      FROM events ORDER BY "offset";
      DROP TABLE events;
      ALTER TABLE events_v2 RENAME TO events;
      CREATE INDEX events_by_topic ON events (topic, "offset");
      CREATE INDEX events_by_source ON events (source, "offset");

      -- stored: events retained now; expired: removed by retention, lifetime (so
      -- unique_processed = stored + expired); stored_bytes: src/domain/retention.ts
      -- eventBytes of the retained events; last_offset: the highest offset ever assigned,
      -- so offsets are never reused even when expiry removes the newest rows.
      ALTER TABLE counters ADD COLUMN stored INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE counters ADD COLUMN expired INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE counters ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE counters ADD COLUMN last_offset INTEGER NOT NULL DEFAULT 0;
      UPDATE counters SET
        stored = (SELECT count(*) FROM events),
        stored_bytes = (SELECT coalesce(sum(octet_length(topic) + octet_length(event_id)
          + octet_length(timestamp) + octet_length(source) + octet_length(payload)), 0) FROM events),
        last_offset = (SELECT coalesce(max("offset"), 0) FROM events)
      WHERE id = 1;
      ALTER TABLE topics ADD COLUMN stored INTEGER NOT NULL DEFAULT 0;
      UPDATE topics SET stored = (SELECT count(*) FROM events e WHERE e.topic = topics.topic);
    `,
  },
  {
    version: 3,
    sql: `
      -- GET /events?topic=X&source=Y: an index range bounded by the page. Without it the
      -- planner picks one of the single-column indexes and filters every row of that topic
      -- or source (on the writer's thread, before reader connections existed).
      CREATE INDEX events_by_topic_source ON events (topic, source, "offset");
    `,
  },
  {
    version: 4,
    sql: `
      -- Event buckets (buckets.ts): the events table becomes bucket 0 (from offset 1), as it
      -- is, so an existing store opens without copying a row; new buckets are new tables.
      CREATE TABLE buckets (
        n            INTEGER PRIMARY KEY,
        first_offset INTEGER NOT NULL
      );
      INSERT INTO buckets (n, first_offset) VALUES (0, 1);
      -- floor_offset: the events retained are exactly those above it. The expiry before
      -- this schema deleted a prefix of the offsets, so the floor is just below the oldest
      -- row left (or the last offset when none is left).
      ALTER TABLE counters ADD COLUMN floor_offset INTEGER NOT NULL DEFAULT 0;
      UPDATE counters SET floor_offset = coalesce((SELECT min("offset") - 1 FROM events), last_offset)
      WHERE id = 1;
    `,
  },
  {
    version: 5,
    sql: `
      -- Recent keys (recent-keys.ts): every event at or below keys_offset has its key in
      -- dedup_keys; the keys of the events above it are held in memory and rebuilt from their
      -- rows at open. Every key of a store before this schema is in dedup_keys already.
      ALTER TABLE counters ADD COLUMN keys_offset INTEGER NOT NULL DEFAULT 0;
      UPDATE counters SET keys_offset = last_offset WHERE id = 1;
    `,
  },
];
