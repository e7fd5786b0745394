/**
 * Numbered, append-only schema migrations of the SQLite store. Never edit a released entry;
 * add the next number. `user_version` records the last one applied.
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
      -- GET /events?topic=X&source=Y: an index range bounded by the page. Without it the
      -- planner picks one of the single-column indexes and filters every row of that topic
      -- or source (on the writer's thread, before reader connections existed).
      CREATE INDEX events_by_topic_source ON events (topic, source, "offset");
    `,
  },
];
