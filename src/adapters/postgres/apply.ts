/**
 * The body of one apply transaction (the caller owns BEGIN/COMMIT): record the deliveries,
 * insert the fresh events under the offset lock, answer per item, bump the counters.
 * Five statements per batch at most, whatever its size; none per event.
 */
import type { PoolClient } from 'pg';
import { dedupKey } from '../../domain/event.js';
import type { Delivery } from '../../ports/queue.js';
import type { AppliedItem, ApplyResult } from '../../ports/store.js';
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

export async function applyBatch(
  client: PoolClient,
  sql: Statements,
  input: BatchInput,
): Promise<ApplyResult> {
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
  const fresh = deliveries.filter((d) => freshIds.delete(parseDeliveryId(d.id).key));

  const offsets = new Map<string, number>();
  const storedKeys = new Set<string>();
  if (fresh.length > 0) {
    // (b) Offsets are drawn and made visible in one global order from here to COMMIT.
    await client.query(sql.offsetLock, [input.lock[0], input.lock[1]]);
    const inserted = await client.query<KeyRow>(sql.insertEvents, [
      fresh.map((d) => d.event.topic),
      fresh.map((d) => d.event.event_id),
      fresh.map((d) => d.event.timestamp),
      fresh.map((d) => d.event.source),
      fresh.map((d) => d.event.payload),
      input.processedAt,
    ]);
    for (const r of inserted.rows) {
      const key = dedupKey(r.topic, r.event_id);
      offsets.set(key, Number(r.seq));
      storedKeys.add(key);
    }
    const missing = new Map<string, Delivery>();
    for (const d of fresh) {
      const key = dedupKey(d.event.topic, d.event.event_id);
      if (!offsets.has(key)) missing.set(key, d);
    }
    if (missing.size > 0) {
      const known = [...missing.values()];
      const existing = await client.query<KeyRow>(sql.existingOffsets, [
        known.map((d) => d.event.topic),
        known.map((d) => d.event.event_id),
      ]);
      for (const r of existing.rows) offsets.set(dedupKey(r.topic, r.event_id), Number(r.seq));
    }
  }

  const items: AppliedItem[] = [];
  const tallies = new Map<string, TopicTally>();
  let stored = 0;
  let duplicates = 0;
  const freshSet = new Set(fresh);
  for (const d of deliveries) {
    const { topic, event_id } = d.event;
    if (!freshSet.has(d)) {
      items.push({ delivery: d.id, topic, event_id, status: 'redelivered', offset: null });
      continue;
    }
    const key = dedupKey(topic, event_id);
    const offset = offsets.get(key) ?? null;
    const tally = tallies.get(topic) ?? { unique: 0, duplicates: 0, lastOffset: null };
    tallies.set(topic, tally);
    // The first fresh copy of a key inserted now is the stored one; every other copy
    // (later in this batch, or of a key stored earlier) is a duplicate.
    if (storedKeys.delete(key)) {
      stored++;
      tally.unique++;
      tally.lastOffset = Math.max(tally.lastOffset ?? 0, offset ?? 0);
      items.push({ delivery: d.id, topic, event_id, status: 'stored', offset });
    } else {
      duplicates++;
      tally.duplicates++;
      items.push({ delivery: d.id, topic, event_id, status: 'duplicate', offset });
    }
  }

  if (stored + duplicates > 0) {
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
  return { items, stored, duplicates };
}
