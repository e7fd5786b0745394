/**
 * Synthetic workload for `logsieve publish`: realistic events and a duplicate schedule.
 *
 * `count` is every event sent, copies included: `--count 20000 --dup-ratio 0.3` sends exactly
 * 14,000 originals and 6,000 copies (the aggregator should then report 14,000 unique and
 * 6,000 duplicates). Each slot is drawn as "copy" with probability remaining-copies /
 * remaining-slots, which hits both totals exactly while spreading copies over the run.
 *
 * A copy is one of three flavours, so that every dedup path of the aggregator is exercised:
 * - immediate:   a copy of an event earlier in the same batch (dedup inside one request);
 * - cross_batch: a copy of an event of the previous batch, which with --concurrency > 1 is
 *                usually still in flight (concurrent workers racing on one key);
 * - late:        a copy of an event at least two batches back (dedup against stored events).
 * When a flavour is impossible at a slot (nothing earlier in the batch yet, say) another
 * flavour takes the slot, so flavour counts are near, not exactly, one third each.
 *
 * With a seed the output is a pure function of the options: ids come from a UUID v7 generator
 * fed by the PRNG and a virtual clock that starts at SEEDED_EPOCH. Without a seed, ids and
 * timestamps use the real clock and crypto randomness, so runs never collide.
 */
import { createUuidV7 } from '../client/uuidv7.js';
import type { PublishEvent } from '../client/types.js';
import { createPrng, type Prng } from './prng.js';

export const SEEDED_EPOCH = Date.UTC(2025, 0, 1);
const LATE_RESERVOIR = 10_000;

export type DuplicateKind = 'immediate' | 'cross_batch' | 'late';
export const DUPLICATE_KINDS: readonly DuplicateKind[] = ['immediate', 'cross_batch', 'late'];

export interface WorkloadOptions {
  /** Events to send, copies included; Infinity for "until stopped". */
  readonly count: number;
  /** Share of `count` that are copies, in [0, 1). */
  readonly dupRatio: number;
  readonly batchSize: number;
  readonly topics: readonly string[];
  readonly sources: readonly string[];
  /** Content seed; also ids and clock when `deterministic`. */
  readonly seed: string;
  readonly deterministic: boolean;
}

export interface PlannedBatch {
  readonly index: number;
  readonly events: readonly PublishEvent[];
  readonly originals: number;
  readonly duplicates: Readonly<Record<DuplicateKind, number>>;
}

/** Batches in send order; finite when `count` is. */
export function* planBatches(o: WorkloadOptions): Generator<PlannedBatch> {
  const prng = createPrng(o.seed);
  const makeEvent = eventFactory(o, prng);
  const copies = Number.isFinite(o.count) ? Math.round(o.count * o.dupRatio) : 0;
  let originalsLeft = Number.isFinite(o.count) ? o.count - copies : Infinity;
  const quota: Record<DuplicateKind, number> = {
    immediate: Math.floor(copies / 3),
    cross_batch: Math.floor(copies / 3),
    late: copies - 2 * Math.floor(copies / 3),
  };
  let copiesLeft = copies;
  let previous: PublishEvent[] = [];
  let older: PublishEvent[] = []; // batch index - 2, joins the reservoir at the next batch
  const reservoir: PublishEvent[] = [];
  let reservoirSeen = 0;

  for (let index = 0; originalsLeft + copiesLeft > 0; index++) {
    for (const e of older) {
      // Reservoir sampling keeps a uniform sample of every old original in bounded memory.
      reservoirSeen += 1;
      if (reservoir.length < LATE_RESERVOIR) reservoir.push(e);
      else {
        const j = prng.int(reservoirSeen);
        if (j < LATE_RESERVOIR) reservoir[j] = e;
      }
    }
    const size = Math.min(o.batchSize, originalsLeft + copiesLeft);
    const events: PublishEvent[] = [];
    const current: PublishEvent[] = [];
    const counts: Record<DuplicateKind, number> = { immediate: 0, cross_batch: 0, late: 0 };
    const sources: Record<DuplicateKind, readonly PublishEvent[]> = {
      immediate: current,
      cross_batch: previous,
      late: reservoir,
    };
    for (let slot = 0; slot < size; slot++) {
      const feasible = DUPLICATE_KINDS.filter((k) => sources[k].length > 0);
      const wantCopy = Number.isFinite(o.count)
        ? prng.int(originalsLeft + copiesLeft) < copiesLeft
        : prng.float() < o.dupRatio;
      if (wantCopy && feasible.length > 0) {
        const kind = chooseKind(prng, feasible, quota, Number.isFinite(o.count));
        events.push(prng.pick(sources[kind]));
        counts[kind] += 1;
        copiesLeft -= 1;
      } else {
        // Only reachable with copies wanted when no event exists yet, so originals remain.
        const e = makeEvent();
        events.push(e);
        current.push(e);
        originalsLeft -= 1;
      }
    }
    older = previous;
    previous = current;
    yield { index, events, originals: current.length, duplicates: counts };
  }
}

/** Picks a flavour with copies left, weighted by what is left; borrows when none is possible. */
function chooseKind(
  prng: Prng,
  feasible: readonly DuplicateKind[],
  quota: Record<DuplicateKind, number>,
  finite: boolean,
): DuplicateKind {
  if (!finite) return prng.pick(feasible);
  const total = feasible.reduce((s, k) => s + quota[k], 0);
  if (total > 0) {
    let r = prng.int(total);
    for (const k of feasible) {
      if (r < quota[k]) {
        quota[k] -= 1;
        return k;
      }
      r -= quota[k];
    }
  }
  // The flavours with quota left are impossible here: take a possible one, charge another.
  const kind = prng.pick(feasible);
  const donor = DUPLICATE_KINDS.find((k) => quota[k] > 0);
  if (donor !== undefined) quota[donor] -= 1;
  return kind;
}

function eventFactory(o: WorkloadOptions, prng: Prng): () => PublishEvent {
  let clock = SEEDED_EPOCH;
  const now = o.deterministic
    ? () => {
        clock += prng.int(3); // a few events per millisecond, as from a busy service
        return clock;
      }
    : Date.now;
  const nextId = createUuidV7(o.deterministic ? { now, random: (b) => prng.fill(b) } : {});
  return () => {
    const topic = prng.pick(o.topics);
    const id = nextId();
    return {
      topic,
      event_id: id,
      timestamp: new Date(o.deterministic ? clock : Date.now()).toISOString(),
      source: prng.pick(o.sources),
      payload: payloadFor(topic, prng),
    };
  };
}

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];
const SKUS = ['SKU-1001', 'SKU-1002', 'SKU-2040', 'SKU-3300', 'SKU-4711'];
const PATHS = ['/api/cart', '/api/orders', '/api/login', '/healthz', '/api/search?q=shoes'];
const LEVELS = ['debug', 'info', 'info', 'info', 'warn', 'error'];

function payloadFor(topic: string, r: Prng): Record<string, unknown> {
  const user = { id: `u-${1000 + r.int(9000)}`, name: r.pick(USERS) };
  if (topic.includes('login') || topic.includes('auth')) {
    const ok = r.float() < 0.9;
    return {
      user,
      method: r.pick(['password', 'oauth', 'sso', 'webauthn']),
      success: ok,
      ...(ok ? {} : { reason: r.pick(['bad_password', 'locked', 'mfa_timeout']) }),
      client: { ip: `10.${r.int(256)}.${r.int(256)}.${r.int(256)}`, agent: 'Mozilla/5.0' },
      latency_ms: 5 + r.int(400),
    };
  }
  if (topic.includes('order') || topic.includes('payment')) {
    const items = Array.from({ length: 1 + r.int(4) }, () => ({
      sku: r.pick(SKUS),
      qty: 1 + r.int(3),
      price: { amount: (100 + r.int(9900)) / 100, currency: 'EUR' },
    }));
    const total = items.reduce((s, i) => s + i.qty * i.price.amount, 0);
    return {
      order_id: `o-${r.uint32().toString(36)}`,
      customer: { ...user, tier: r.pick(['free', 'plus', 'pro']) },
      items,
      total: { amount: Math.round(total * 100) / 100, currency: 'EUR' },
      status: r.pick(['created', 'paid', 'shipped', 'cancelled']),
    };
  }
  return {
    level: r.pick(LEVELS),
    message: r.pick(['request served', 'cache miss', 'retrying upstream', 'slow query']),
    http: {
      method: r.pick(['GET', 'POST']),
      path: r.pick(PATHS),
      status: r.pick([200, 200, 201, 404, 500]),
    },
    duration_ms: r.int(2000),
    tags: ['synthetic', `shard-${r.int(8)}`],
    user,
  };
}
