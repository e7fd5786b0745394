/**
 * One apply = one call of the schema's apply_batch function (migration 2, behind the delivery
 * floor check of migration 5), sent outside BEGIN so the call is its own transaction: one
 * round trip per batch whatever its size, and the namespace's offset lock is never held
 * while PostgreSQL waits for Node.
 *
 * This module packs a batch into the function's arguments and turns its answer into the
 * per-item result. The decisions (which delivery is fresh, which copy is stored, offsets,
 * counters) are all taken inside the function, in the transaction; see its comment.
 */
import type { Pool } from 'pg';
import { dedupKey } from '../../domain/event.js';
import {
  comparePositions,
  type Delivery,
  type DeliveryPosition,
  type DeliveryPositions,
} from '../../ports/queue.js';
import type { AppliedItem, ApplyResult } from '../../ports/store.js';
import { streamPositions } from '../positions.js';
import type { Statements } from './sql.js';

export interface BatchInput {
  readonly deliveries: readonly Delivery[];
  readonly processedAt: Date;
  readonly shard: number;
  /** pg_advisory_xact_lock(class, key) of the namespace's offsets. */
  readonly lock: readonly [number, number];
  /** Lock class of the namespace's delivery floor (same key as `lock`), see migration 5. */
  readonly floorClass: number;
  /**
   * The queue's encoding: a position (major, minor) is stored in the (ms, seq) columns.
   * Default: stream positions (Redis ids).
   */
  readonly positions?: DeliveryPositions;
}

/** Separates the values of one text argument; no topic, id, source or JSON text holds it. */
const SEP = '\u001f';

type Row = [base: string | null, outcome: string];

export async function applyBatch(
  pool: Pool,
  sql: Statements,
  input: BatchInput,
): Promise<ApplyResult> {
  const { deliveries } = input;
  const codec = input.positions ?? streamPositions;
  // A delivery listed twice in one batch is applied once: the first listing; the others
  // answer 'redelivered' (position -1).
  const positions = new Int32Array(deliveries.length);
  const seen = new Set<string>();
  // The position of the first entry of each key (topic, event_id): the copy that is stored
  // when the key is new (the function applies the same rule).
  const firstOfKey = new Map<string, number>();
  const first: string[] = [];
  const ms: string[] = [];
  const seq: string[] = [];
  const topic: string[] = [];
  const eventId: string[] = [];
  const ts: string[] = [];
  const source: string[] = [];
  const payload: string[] = [];
  // The smallest id: the function compares only it with the delivery floor (migration 5).
  let lowest: DeliveryPosition | null = null;
  for (let i = 0; i < deliveries.length; i++) {
    const d = deliveries[i] as Delivery;
    const id = codec.encode(d.id);
    // Same position, same delivery (a bare "5" and "5-0" on a stream queue).
    const idKey = codec.decode(id);
    if (seen.has(idKey)) {
      positions[i] = -1;
      continue;
    }
    seen.add(idKey);
    const key = dedupKey(d.event.topic, d.event.event_id);
    if (firstOfKey.has(key)) first.push('0');
    else {
      firstOfKey.set(key, ms.length);
      first.push('1');
    }
    positions[i] = ms.length;
    if (lowest === null || comparePositions(id, lowest) < 0) lowest = id;
    ms.push(id.major);
    seq.push(id.minor);
    topic.push(d.event.topic);
    eventId.push(d.event.event_id);
    ts.push(d.event.timestamp);
    source.push(d.event.source);
    payload.push(d.event.payload);
  }

  const r = await pool.query<Row>({
    text: sql.applyBatch,
    rowMode: 'array',
    values: [
      ms.join(','),
      seq.join(','),
      first.join(','),
      topic.join(SEP),
      eventId.join(SEP),
      ts.join(SEP),
      source.join(SEP),
      payload.join(SEP),
      input.processedAt,
      input.shard,
      input.lock[0],
      input.lock[1],
      input.floorClass,
      lowest?.major ?? '0',
      lowest?.minor ?? '0',
    ],
  });
  const row = r.rows[0];
  if (row === undefined) throw new Error('apply_batch returned no row');
  const base = row[0] === null ? 0 : Number(row[0]);
  const tokens = row[1].split(',');
  if (tokens.length !== ms.length) throw new Error('apply_batch answered for another batch size');

  // A key stored by this call was inserted from its first entry, at base + its position;
  // its other fresh entries are duplicates of that row.
  const items: AppliedItem[] = new Array<AppliedItem>(deliveries.length);
  let stored = 0;
  let duplicates = 0;
  for (let i = 0; i < deliveries.length; i++) {
    const d = deliveries[i] as Delivery;
    const { topic: t, event_id } = d.event;
    const p = positions[i] as number;
    const token = p < 0 ? 'r' : (tokens[p] as string);
    if (token === 'r') {
      items[i] = { delivery: d.id, topic: t, event_id, status: 'redelivered', offset: null };
    } else if (token === '') {
      const head = firstOfKey.get(dedupKey(t, event_id)) ?? p;
      if (head === p) {
        stored++;
        items[i] = { delivery: d.id, topic: t, event_id, status: 'stored', offset: base + p + 1 };
      } else {
        duplicates++;
        items[i] = {
          delivery: d.id,
          topic: t,
          event_id,
          status: 'duplicate',
          offset: base + head + 1,
        };
      }
    } else {
      duplicates++;
      items[i] = { delivery: d.id, topic: t, event_id, status: 'duplicate', offset: Number(token) };
    }
  }
  return { items, stored, duplicates };
}
