/**
 * The body of one apply (the caller owns BEGIN/COMMIT): record the deliveries, insert the
 * fresh events under the offset lock, bump the counters; then, after COMMIT, answer per item.
 * Five statements per batch at most, whatever its size; none per event.
 */
import type { PoolClient } from 'pg';
import { dedupKey } from '../../domain/event.js';
import type { Delivery } from '../../ports/queue.js';
import type { AppliedItem, ApplyResult, ApplyStatus } from '../../ports/store.js';
import type { Statements } from './sql.js';

export interface BatchInput {
  readonly deliveries: readonly Delivery[];
  readonly processedAt: Date;
  readonly shard: number;
  /** pg_advisory_xact_lock(class, key) of the namespace's offsets. */
  readonly lock: readonly [number, number];
}

/** A delivery id as two integers: Redis "ms-seq", or a plain integer (seq 0). */
export interface DeliveryId {
  readonly ms: string;
  readonly seq: string;
  /** Canonical "ms-seq". */
  readonly key: string;
}

export function parseDeliveryId(id: string): DeliveryId {
  const m = /^(\d{1,19})(?:-(\d{1,19}))?$/.exec(id);
  if (m === null) throw new Error(`delivery id "${id}" is neither "ms-seq" nor an integer`);
  const ms = BigInt(m[1] ?? '0').toString();
  const seq = BigInt(m[2] ?? '0').toString();
  return { ms, seq, key: `${ms}-${seq}` };
}

export function compareDeliveryIds(a: DeliveryId, b: DeliveryId): number {
  const d = BigInt(a.ms) - BigInt(b.ms) || BigInt(a.seq) - BigInt(b.seq);
  return d === 0n ? 0 : d < 0n ? -1 : 1;
}

interface KeyRow {
  seq: string;
  topic: string;
  event_id: string;
}

interface TopicTally {
  unique: number;
  duplicates: number;
  lastOffset: number | null;
}

/** What the transaction wrote, enough to answer per item once it has committed. */
export interface Written {
  readonly deliveries: readonly Delivery[];
  /** Per delivery, in input order. */
  readonly statuses: readonly ApplyStatus[];
  /** Offsets of the keys inserted by this transaction. */
  readonly offsets: Map<string, number>;
  /** One delivery per key that was stored before this batch (its offset is looked up). */
  readonly earlier: readonly Delivery[];
  readonly stored: number;
  readonly duplicates: number;
}

/**
 * Inside the transaction: record the deliveries, insert the fresh events under the offset
 * lock, bump the counters. Everything that decides a count happens here; the offsets of
 * duplicates of earlier rows are looked up after COMMIT (answerBatch), outside the lock,
 * because a stored row's offset never changes.
 */
export async function writeBatch(
  client: PoolClient,
  sql: Statements,
  input: BatchInput,
): Promise<Written> {
  const { deliveries } = input;
  // (a) Which deliveries are new? Sorted ids: overlapping batches lock in the same order.
  const byKey = new Map<string, DeliveryId>();
  for (const d of deliveries) {
    const id = parseDeliveryId(d.id);
    byKey.set(id.key, id);
  }
  const ids = [...byKey.values()].sort(compareDeliveryIds);
  const recorded = await client.query<{ ms: string; seq: string }>(sql.recordDeliveries, [
    ids.map((i) => i.ms),
    ids.map((i) => i.seq),
  ]);
  const freshIds = new Set(recorded.rows.map((r) => `${r.ms}-${r.seq}`));
  // A delivery listed twice in one batch is applied once.
  const fresh = new Set(deliveries.filter((d) => freshIds.delete(parseDeliveryId(d.id).key)));

  const offsets = new Map<string, number>();
  if (fresh.size > 0) {
    // (b) Offsets are drawn and made visible in one global order from here to COMMIT.
    await client.query(sql.offsetLock, [input.lock[0], input.lock[1]]);
    const list = [...fresh];
    const inserted = await client.query<KeyRow>(sql.insertEvents, [
      list.map((d) => d.event.topic),
      list.map((d) => d.event.event_id),
      list.map((d) => d.event.timestamp),
      list.map((d) => d.event.source),
      list.map((d) => d.event.payload),
      input.processedAt,
    ]);
    for (const r of inserted.rows) offsets.set(dedupKey(r.topic, r.event_id), Number(r.seq));
  }

  const statuses: ApplyStatus[] = [];
  const earlier = new Map<string, Delivery>();
  const tallies = new Map<string, TopicTally>();
  const firstCopy = new Set<string>();
  let stored = 0;
  let duplicates = 0;
  for (const d of deliveries) {
    if (!fresh.has(d)) {
      statuses.push('redelivered');
      continue;
    }
    const { topic, event_id } = d.event;
    const key = dedupKey(topic, event_id);
    const offset = offsets.get(key);
    const tally = tallies.get(topic) ?? { unique: 0, duplicates: 0, lastOffset: null };
    tallies.set(topic, tally);
    // The first fresh copy of a key inserted now is the stored one; every other copy
    // (later in this batch, or of a key stored earlier) is a duplicate.
    if (offset !== undefined && !firstCopy.has(key)) {
      firstCopy.add(key);
      stored++;
      tally.unique++;
      tally.lastOffset = Math.max(tally.lastOffset ?? 0, offset);
      statuses.push('stored');
    } else {
      if (offset === undefined) earlier.set(key, d);
      duplicates++;
      tally.duplicates++;
      statuses.push('duplicate');
    }
  }

  if (stored + duplicates > 0) {
    // (c) Counters, in the same transaction as the rows they count.
    const topics = [...tallies.keys()];
    const t = topics.map((k) => tallies.get(k) as TopicTally);
    await client.query(sql.bumpCounters, [
      input.shard,
      stored,
      duplicates,
      topics,
      t.map((x) => x.unique),
      t.map((x) => x.duplicates),
      t.map((x) => x.lastOffset),
      input.processedAt,
    ]);
  }
  return { deliveries, statuses, offsets, earlier: [...earlier.values()], stored, duplicates };
}

/** After COMMIT: the per-item answer, with the earlier offset of every duplicate. */
export async function answerBatch(
  client: PoolClient,
  sql: Statements,
  w: Written,
): Promise<ApplyResult> {
  const offsets = new Map(w.offsets);
  if (w.earlier.length > 0) {
    const existing = await client.query<KeyRow>(sql.existingOffsets, [
      w.earlier.map((d) => d.event.topic),
      w.earlier.map((d) => d.event.event_id),
    ]);
    for (const r of existing.rows) offsets.set(dedupKey(r.topic, r.event_id), Number(r.seq));
  }
  const items: AppliedItem[] = w.deliveries.map((d, i) => {
    const status = w.statuses[i] ?? 'redelivered';
    const { topic, event_id } = d.event;
    const offset =
      status === 'redelivered' ? null : (offsets.get(dedupKey(topic, event_id)) ?? null);
    return { delivery: d.id, topic, event_id, status, offset };
  });
  return { items, stored: w.stored, duplicates: w.duplicates };
}
