/**
 * Store port on PostgreSQL, shared by every instance of a deployment. Tables live in a
 * schema named by the namespace (migrations.ts).
 *
 * apply = one call of apply_batch_above_floor (migration 3: ids below the pruned floor count
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
 * (migration 3: monotonic, serialised with every apply by an advisory lock), then deletes
 * the ids below. Every id below the store's floor answers 'redelivered': a copy that an
 * instance read before a pause of any length (SIGSTOP, VM pause, GC, partition) and applies
 * after another instance stored and acked it is recognised, not counted a second time. This
 * is exact (no retention to guess: a batch committed before a week-long outage and never
 * acked is still recognised) and keeps the table at about the number of unacked entries, at
 * most QUEUE_MAX plus one minute of traffic. The ids are ordered integers (ms, seq), so a
 * prune deletes a prefix of the primary key.
 *
 * Durability. Every apply (and floor raise) commits with synchronous_commit = on, whatever
 * the server, database, role or URL says (migration 3 sets it local to the transaction, so
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
import type { EventsQuery } from '../../domain/schemas.js';
import type { Delivery } from '../../ports/queue.js';
import type {
  AppliedItem,
  ApplyResult,
  Store,
  StoreCounters,
  TopicSummary,
} from '../../ports/store.js';
import { applyBatch, parseDeliveryId } from './apply.js';
import { LOCK_CLASS, migrate, namespaceKey } from './migrations.js';
import { asOutage } from './outage.js';
import { quoteIdent, statements } from './sql.js';

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

interface EventRow {
  seq: string;
  topic: string;
  event_id: string;
  ts: string;
  source: string;
  payload: string;
  processed_at: string;
}

export async function openPostgresStore(opts: PostgresStoreOptions): Promise<PostgresStore> {
  const statementTimeoutMs = opts.statementTimeoutMs ?? 10_000;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 3_000;
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolMax,
    connectionTimeoutMillis: connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    statement_timeout: statementTimeoutMs,
    // Client-side bound too: a server that stops answering (not just a slow statement).
    query_timeout: statementTimeoutMs + 2_000,
    idle_in_transaction_session_timeout: statementTimeoutMs * 3,
    keepAlive: true,
    application_name: `logsieve:${opts.consumerName}`.slice(0, 63),
  });
  // An idle client whose server went away emits here; without a listener it would crash.
  pool.on('error', (err) => opts.log?.warn({ err: err.message }, 'postgres idle connection lost'));

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
    } finally {
      client.off('error', onLost);
      client.release();
    }
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }

  let closed = false;

  async function pruneDeliveriesBelow(floor: string): Promise<number> {
    const wanted = parseDeliveryId(floor);
    // Deleting only below the floor in force (committed, seen by every later apply) keeps
    // every id either recorded or below a floor that answers for it.
    const raised = await pool.query<{ ms: string; seq: string }>(sql.raiseFloor, [
      wanted.ms,
      wanted.seq,
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

    list(query: EventsQuery): Promise<StoredEvent[]> {
      const params: (string | number)[] = [query.after];
      const where = ['seq > $1'];
      if (query.before !== undefined) {
        params.push(query.before);
        where.push(`seq < $${params.length}`);
      }
      if (query.topic !== undefined) {
        params.push(query.topic);
        where.push(`topic = $${params.length}`);
      }
      if (query.source !== undefined) {
        params.push(query.source);
        where.push(`source = $${params.length}`);
      }
      params.push(query.limit);
      const order = query.order === 'desc' ? 'DESC' : 'ASC';
      // Served by the primary key or (topic, seq) / (source, seq): an index range scan.
      const text = `${sql.listHead} WHERE ${where.join(' AND ')} ORDER BY seq ${order} LIMIT $${params.length}`;
      return read('list', async () => (await pool.query<EventRow>(text, params)).rows.map(toEvent));
    },

    get(topic: string, eventId: string): Promise<StoredEvent | null> {
      return read('get', async () => {
        const row = (await pool.query<EventRow>(sql.get, [topic, eventId])).rows[0];
        return row === undefined ? null : toEvent(row);
      });
    },

    topics(): Promise<TopicSummary[]> {
      return read('topics', async () => {
        const r = await pool.query<{
          topic: string;
          unique_count: string;
          duplicates: string;
          last_offset: string | null;
          last_processed_at: string | null;
        }>(sql.topics);
        return r.rows.map((t) => ({
          topic: t.topic,
          unique: Number(t.unique_count),
          duplicates: Number(t.duplicates),
          last_offset: t.last_offset === null ? null : Number(t.last_offset),
          last_processed_at: t.last_processed_at,
        }));
      });
    },

    counters(): Promise<StoreCounters> {
      return read('counters', async () => {
        const r = await pool.query<{ unique_processed: string; duplicate_dropped: string }>(
          sql.counters,
        );
        const row = r.rows[0];
        return {
          unique_processed: Number(row?.unique_processed ?? 0),
          duplicate_dropped: Number(row?.duplicate_dropped ?? 0),
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

    pruneDeliveriesBelow,

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
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
