/**
 * Store port on PostgreSQL, shared by every instance of a deployment. Tables live in a
 * schema named by the namespace (migrations.ts).
 *
 * apply = one call of apply_batch_above_floor (migration 5: ids below the pruned floor count
 * as recorded, then apply_batch of migration 2), which is its own transaction:
 *   (a) record the batch's delivery ids; only ids recorded now are applied, the others
 *       answer 'redelivered' and change nothing (a batch committed here whose XACK was lost
 *       comes back through XAUTOCLAIM and is recognised);
 *   (b) still before the offset lock: find the keys stored earlier (their copies are
 *       duplicates) and the first fresh copy of every new key;
 *   (c) take the namespace's offset lock, insert those copies in one INSERT ... ON CONFLICT
 *       DO NOTHING (a key stored meanwhile by another instance turns into a duplicate);
 *   (d) add to this instance's counter shard, in the same transaction; COMMIT.
 * One round trip per batch: PostgreSQL never waits for Node while the lock is held.
 *
 * Offsets that never skip. A sequence value drawn before commit may become visible after a
 * larger one, and a reader paging with `after` would then skip it forever. We hold a
 * transaction-level advisory lock from just before the offsets are drawn until commit, so
 * offsets are assigned and made visible in one global order: when a reader sees offset n,
 * every offset below n is either visible or was never committed (gaps from rollbacks, from
 * duplicates and from redelivered positions are fine; the promise is "strictly increasing",
 * not "dense"). The lock covers only the insert + counter update + commit. We chose it
 * over a visibility watermark (readers only see offsets below the oldest in-flight one)
 * because it needs no extra bookkeeping on the read path and live subscribers get events as
 * soon as they commit; its cost is that commits of one namespace are serial, measured in
 * BENCHMARKS.md.
 *
 * Pruning applied_deliveries. An id matters only while its stream entry can still be
 * delivered, i.e. until it is acked. The queue reports a floor (RedisQueue.deliveryFloor:
 * the oldest pending entry id, or the group's last delivered id + 1 when nothing is pending,
 * read atomically), below which no id can ever be handed out again; cluster.ts passes it to
 * `pruneDeliveriesBelow` every minute. The store first raises its own floor to it
 * (migration 5: monotonic, serialised with every apply by an advisory lock), then deletes
 * the ids below. Every id below the store's floor answers 'redelivered': a copy that an
 * instance read before a pause of any length (SIGSTOP, VM pause, GC, partition) and applies
 * after another instance stored and acked it is recognised, not counted a second time. This
 * is exact (no retention to guess: a batch committed before a week-long outage and never
 * acked is still recognised) and keeps the table at about the number of unacked entries, at
 * most QUEUE_MAX plus one minute of traffic. The store never parses an id: the queue's
 * `positions` encode it as two ordered integers (major, minor), kept in the (ms, seq)
 * columns (named for Redis, the first queue), so a prune deletes a prefix of the primary key.
 *
 * Durability. Every apply (and floor raise) commits with synchronous_commit = on, whatever
 * the server, database, role or URL says (migration 5 sets it local to the transaction, so
 * it holds through a transaction pooler too): the worker XACKs as soon as apply returns, so
 * a commit that a server crash could still lose (off, or local with a replica behind)
 * would lose acknowledged events.
 *
 * A batch that fails on statement_timeout (57014: the statement was cancelled, so nothing of
 * it committed) is split in halves, applied one after the other, down to single entries;
 * retried unchanged it would fail forever and pin the delivery floor. Other failures are
 * thrown: the worker releases the batch and backs off.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import type { StoredEvent } from '../../domain/event.js';
import { encodePage, type EncodedPage, type PageFormat } from '../../domain/page.js';
import type { EventsQuery } from '../../domain/schemas.js';
import type { Delivery, DeliveryPositions } from '../../ports/queue.js';
import { streamPositions } from '../positions.js';
import type {
  AppliedItem,
  ApplyResult,
  ExpiryStep,
  Store,
  StoreCounters,
  TopicsPage,
  TopicSummary,
} from '../../ports/store.js';
import { dedupKeyHash } from '../../domain/dedup-key.js';
import { KEEP_FOREVER, type RetentionPolicy } from '../../domain/retention.js';
import { DEFAULT_READ_BYTES } from '../../ports/store.js';
import { applyBatch } from './apply.js';
import { pgExpirer } from './expiry.js';
import { LOCK_CLASS, migrate, namespaceKey } from './migrations.js';
import { asOutage } from './outage.js';
import { pagedListQuery, quoteIdent, READ_SESSION_OPTIONS, statements } from './sql.js';

export interface PostgresStoreOptions {
  readonly url: string;
  readonly namespace: string;
  readonly poolMax: number;
  /** Picks this instance's counter shard. */
  readonly consumerName: string;
  readonly log?: Logger | undefined;
  /** Server-side bound on one statement. Default 10 s. */
  readonly statementTimeoutMs?: number;
  /** Bound on getting a connection (and on ready()). Default 3 s. */
  readonly connectTimeoutMs?: number;
  /** Default: keep everything forever. */
  readonly retention?: RetentionPolicy;
  /**
   * Tests only: offsets per events partition (default 100,000, migration 3). Takes effect
   * only on a namespace that has never stored an event.
   */
  readonly partitionSpan?: number;
  /** Tests only: called inside an expiry drop, after the DROP and before its COMMIT. */
  readonly duringExpiry?: () => void;
  /**
   * The queue's delivery-id encoding (its `positions`); a position (major, minor) is kept in
   * the (ms, seq) columns. Default: stream positions (Redis ids, bare integers as (n, 0)).
   */
  readonly positions?: DeliveryPositions;
}

export interface PostgresStore extends Store {
  /**
   * Raises the store's delivery floor to `floor` ("ms-seq"), which the queue guarantees it
   * will never deliver again, then forgets the applied delivery ids below the store's floor.
   * Returns how many were deleted.
   */
  pruneDeliveriesBelow(floor: string): Promise<number>;
}

export const SHARDS = 64;
const PRUNE_CHUNK = 50_000;
/** How often the next events partition is checked for (created once the newest is half full). */
const PARTITION_AHEAD_EVERY_MS = 5_000;

interface EventRow {
  seq: string;
  topic: string;
  event_id: string;
  ts: string;
  source: string;
  payload: string;
  processed_at: string;
}

/** A row of the bounded page query: the event and the size of the unbounded page. */
interface PagedRow extends EventRow {
  total: string;
}

export async function openPostgresStore(opts: PostgresStoreOptions): Promise<PostgresStore> {
  const statementTimeoutMs = opts.statementTimeoutMs ?? 10_000;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 3_000;
  const positions = opts.positions ?? streamPositions;
  const poolConfig = (max: number, role: string, options?: string): pg.PoolConfig => ({
    connectionString: opts.url,
    max,
    connectionTimeoutMillis: connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    statement_timeout: statementTimeoutMs,
    // Client-side bound too: a server that stops answering (not just a slow statement).
    query_timeout: statementTimeoutMs + 2_000,
    idle_in_transaction_session_timeout: statementTimeoutMs * 3,
    keepAlive: true,
    application_name: `logsieve:${role}${opts.consumerName}`.slice(0, 63),
    ...(options === undefined ? {} : { options }),
  });
  const pool = new pg.Pool(poolConfig(opts.poolMax, ''));
  // Reads have their own connections: a burst of heavy pages can never take the
  // connections apply needs, and the planner settings below apply to reads only.
  const readPool = new pg.Pool(
    poolConfig(Math.max(2, Math.ceil(opts.poolMax / 2)), 'read:', READ_SESSION_OPTIONS),
  );
  // An idle client whose server went away emits here; without a listener it would crash.
  for (const p of [pool, readPool]) {
    p.on('error', (err) => opts.log?.warn({ err: err.message }, 'postgres idle connection lost'));
  }

  const schema = quoteIdent(opts.namespace);
  const sql = statements(schema);
  const lockKey = namespaceKey(opts.namespace);
  const shard = Math.abs(namespaceKey(opts.consumerName)) % SHARDS;

  try {
    const client = await pool.connect();
    const onLost = (): void => undefined; // the failing query reports it
    client.on('error', onLost);
    try {
      const applied = await migrate(client, schema, opts.namespace);
      if (applied.length > 0)
        opts.log?.info({ applied, schema: opts.namespace }, 'migrations applied');
      if (opts.partitionSpan !== undefined) {
        await resetPartitionSpan(client, schema, opts.partitionSpan);
      }
    } finally {
      client.off('error', onLost);
      client.release();
    }
  } catch (err) {
    await pool.end().catch(() => undefined);
    await readPool.end().catch(() => undefined);
    throw err;
  }

  let closed = false;
  const expirer = pgExpirer({
    pool,
    schema,
    offsetLock: [LOCK_CLASS.offsets, lockKey],
    expiryLock: [LOCK_CLASS.expiry, lockKey],
    shard,
    retention: opts.retention ?? KEEP_FOREVER,
    duringExpiry: opts.duringExpiry,
  });
  // Partitions ahead of the offsets, off the apply path (see expiry.ts, step 1).
  let ahead: Promise<void> = Promise.resolve();
  const aheadTimer = setInterval(() => {
    ahead = expirer
      .createAhead()
      .catch((err: unknown) =>
        opts.log?.debug({ err }, 'creating the next events partition failed; retrying later'),
      );
  }, PARTITION_AHEAD_EVERY_MS);
  aheadTimer.unref();

  /** Rows of a query, at most about `maxBytes` of them (see pagedList), and the page size. */
  async function boundedRows(
    query: EventsQuery,
    maxBytes: number,
  ): Promise<{ rows: StoredEvent[]; total: number }> {
    const { text, params } = pagedListQuery(schema, sql.eventColumns, query, maxBytes);
    const r = await readPool.query<PagedRow>(text, params);
    return { rows: r.rows.map(toEvent), total: Number(r.rows[0]?.total ?? 0) };
  }

  async function pruneDeliveriesBelow(floor: string): Promise<number> {
    const wanted = positions.encode(floor);
    // Deleting only below the floor in force (committed, seen by every later apply) keeps
    // every id either recorded or below a floor that answers for it.
    const raised = await pool.query<{ ms: string; seq: string }>(sql.raiseFloor, [
      wanted.major,
      wanted.minor,
      LOCK_CLASS.deliveryFloor,
      lockKey,
    ]);
    const row = raised.rows[0];
    if (row === undefined) throw new Error('raise_delivery_floor returned no row');
    let total = 0;
    for (;;) {
      const r = await pool.query(sql.pruneDeliveries, [row.ms, row.seq, PRUNE_CHUNK]);
      total += r.rowCount ?? 0;
      if ((r.rowCount ?? 0) < PRUNE_CHUNK || closed) return total;
    }
  }

  /** One apply_batch call; on statement_timeout, the two halves in turn (see header). */
  async function applySplitting(
    deliveries: readonly Delivery[],
    processedAt: Date,
  ): Promise<ApplyResult> {
    try {
      return await applyBatch(pool, sql, {
        deliveries,
        processedAt,
        shard,
        lock: [LOCK_CLASS.offsets, lockKey],
        floorClass: LOCK_CLASS.deliveryFloor,
        positions,
      });
    } catch (err) {
      if (deliveries.length < 2 || !isStatementTimeout(err) || closed) throw err;
      const half = Math.ceil(deliveries.length / 2);
      opts.log?.warn(
        { events: deliveries.length, statementTimeoutMs },
        'apply over statement_timeout; applying the batch in halves',
      );
      // In order: the halves commit one after the other, so offsets keep the batch order.
      const a = await applySplitting(deliveries.slice(0, half), processedAt);
      const b = await applySplitting(deliveries.slice(half), processedAt);
      return {
        items: [...a.items, ...b.items],
        stored: a.stored + b.stored,
        duplicates: a.duplicates + b.duplicates,
      };
    }
  }

  async function read<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw asOutage(err, what);
    }
  }

  return {
    async apply(deliveries: readonly Delivery[], processedAt: Date): Promise<ApplyResult> {
      if (deliveries.length === 0) return { items: [] as AppliedItem[], stored: 0, duplicates: 0 };
      // pool.query listens for 'error' on the client while the call runs (a server dying
      // mid-apply fails the call instead of crashing the process) and destroys the client
      // after any failure. If the connection is lost, the call's outcome is unknown; the
      // batch is released, and if it did commit, it comes back 'redelivered'.
      try {
        return await applySplitting(deliveries, processedAt);
      } catch (err) {
        throw asOutage(err, 'apply');
      }
    },

    list(query: EventsQuery, maxBytes = DEFAULT_READ_BYTES): Promise<StoredEvent[]> {
      return read('list', async () => (await boundedRows(query, maxBytes)).rows);
    },
    page(query: EventsQuery, maxBytes: number, format: PageFormat): Promise<EncodedPage> {
      return read('list', async () => {
        const { rows, total } = await boundedRows(query, maxBytes);
        const page = encodePage(rows, { limit: query.limit, maxBytes, format });
        return page.truncated || page.count >= total ? page : { ...page, truncated: true };
      });
    },
    get(topic: string, eventId: string): Promise<StoredEvent | null> {
      return read('get', async () => {
        const key = dedupKeyHash(topic, eventId);
        const row = (await readPool.query<EventRow>(sql.get, [topic, eventId, key])).rows[0];
        return row === undefined ? null : toEvent(row);
      });
    },

    topicCount(): Promise<number> {
      return read('topics', async () => {
        const r = await readPool.query<{ n: string }>(sql.topicCount);
        return Number(r.rows[0]?.n ?? 0);
      });
    },
    topics(page: TopicsPage = { limit: Number.MAX_SAFE_INTEGER }): Promise<TopicSummary[]> {
      return read('topics', async () => {
        const r = await readPool.query<{
          topic: string;
          unique_count: string;
          duplicates: string;
          stored: string;
          last_offset: string | null;
          last_processed_at: string | null;
        }>(sql.topics, [page.after ?? '', page.limit]);
        return r.rows.map((t) => ({
          topic: t.topic,
          unique: Number(t.unique_count),
          duplicates: Number(t.duplicates),
          stored: Number(t.stored),
          last_offset: t.last_offset === null ? null : Number(t.last_offset),
          last_processed_at: t.last_processed_at,
        }));
      });
    },

    counters(): Promise<StoreCounters> {
      return read('counters', async () => {
        const r = await pool.query<Record<keyof StoreCounters, string>>(sql.counters);
        const row = r.rows[0];
        return {
          unique_processed: Number(row?.unique_processed ?? 0),
          duplicate_dropped: Number(row?.duplicate_dropped ?? 0),
          stored: Number(row?.stored ?? 0),
          expired: Number(row?.expired ?? 0),
          stored_bytes: Number(row?.stored_bytes ?? 0),
        };
      });
    },

    async ready(): Promise<boolean> {
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([
          pool.query('SELECT 1').then(() => true),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(false), connectTimeoutMs);
          }),
        ]);
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
      }
    },

    async expire(now: Date): Promise<ExpiryStep> {
      try {
        return await expirer.expire(now);
      } catch (err) {
        throw asOutage(err, 'expire');
      }
    },

    pruneDeliveriesBelow,

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(aheadTimer);
      await ahead;
      await Promise.all([pool.end(), readPool.end()]);
    },
  };
}

/** See PostgresStoreOptions.partitionSpan: an unused namespace starts with no partition. */
async function resetPartitionSpan(
  client: pg.PoolClient,
  schema: string,
  span: number,
): Promise<void> {
  if (!Number.isSafeInteger(span) || span < 1) throw new Error('partitionSpan must be >= 1');
  const used = await client.query<{ called: boolean }>(
    `SELECT is_called AS called FROM ${schema}.event_offsets`,
  );
  if (used.rows[0]?.called !== false) return;
  await client.query('BEGIN');
  try {
    await client.query(`DROP TABLE IF EXISTS ${schema}.events_0`);
    await client.query(`DELETE FROM ${schema}.event_partitions`);
    await client.query(`UPDATE ${schema}.partition_span SET span = $1`, [span]);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** PostgreSQL cancelled the statement (statement_timeout): it committed nothing. */
function isStatementTimeout(err: unknown): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === '57014';
}

function toEvent(r: EventRow): StoredEvent {
  return {
    offset: Number(r.seq),
    topic: r.topic,
    event_id: r.event_id,
    timestamp: r.ts,
    source: r.source,
    payload: r.payload,
    processed_at: r.processed_at,
  };
}
