/**
 * Queue port: where accepted events wait, durably, until a consumer applies them.
 *
 * Glossary
 * - Delivery: one queued copy of an event with the queue's id for it (a log sequence number
 *   in embedded mode, a stream entry id on Redis). Two sends of the same event are two
 *   deliveries; a redelivery after a crash is the same delivery again.
 * - Lease: the deliveries one consumer took in one `take`. They stay in the queue, counted
 *   in `depth`, until `ack` (applied) or `release` (give back for another try).
 *
 * Contract (test/contract/queue.contract.ts runs it against every adapter):
 * - `enqueue` resolves only when the events are durable, and rejects the whole call with
 *   AppError('queue_full') when depth would exceed the bound, accepting nothing.
 * - every delivery is handed out again until it is acked; ack is idempotent.
 * - `received` counts every enqueued event once; `depth` = received - acked.
 * - delivery ids are opaque to everyone but the queue's `positions`, which orders and
 *   encodes them: a store persists `positions.encode(id)`, never a parse of its own, and a
 *   queue never hands out an id whose position it handed out before.
 */
import type { AcceptedEvent } from '../domain/event.js';

/**
 * A delivery id's persisted form: two non-negative integers as canonical decimal text (no
 * leading zeros, each below 2^63, so a PostgreSQL bigint or a SQLite INTEGER holds it).
 * Positions order as number pairs, major first; the queue's hand-out order is that order
 * wherever the queue promises one (the Redis delivery floor relies on it).
 */
export interface DeliveryPosition {
  readonly major: string;
  readonly minor: string;
}

/** How one queue's delivery ids compare and encode (src/adapters/positions.ts). */
export interface DeliveryPositions {
  /** Names the encoding (`sequence`, `stream`), for error messages and compositions. */
  readonly kind: string;
  /** The id's position; throws a TypeError for an id this queue cannot have made. */
  encode(id: string): DeliveryPosition;
  /** The id of a position (the inverse of encode for every id the queue makes). */
  decode(position: DeliveryPosition): string;
  /** Negative, zero or positive as `a` is before, at or after `b`. */
  compare(a: string, b: string): number;
}

/** Canonical decimal text compares as numbers: by length, then by text. */
function compareDecimal(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Orders two positions as number pairs, major first. */
export function comparePositions(a: DeliveryPosition, b: DeliveryPosition): number {
  return compareDecimal(a.major, b.major) || compareDecimal(a.minor, b.minor);
}

export interface Delivery {
  readonly id: string;
  readonly event: AcceptedEvent;
}

export interface Lease {
  readonly deliveries: readonly Delivery[];
}

export interface QueueStats {
  /** Events enqueued, lifetime. */
  readonly received: number;
  /** Events enqueued and not yet acked. */
  readonly depth: number;
}

/** What the HTTP layer needs. */
export interface QueueWriter {
  /** Durable when it resolves. Returns the delivery ids in input order. */
  enqueue(events: readonly AcceptedEvent[]): Promise<string[]>;
  /**
   * Optional: a caller waits for events it enqueued (their enqueue has resolved) to be applied
   * (POST /publish?wait=true): hand everything durable so far to the consumers now instead of
   * lingering for a fuller batch. Queues without a linger need not implement it.
   */
  expedite?(): void;
  stats(): Promise<QueueStats>;
  ready(): Promise<boolean>;
}

/** What a consumer needs. */
export interface QueueReader {
  /**
   * Waits for up to `max` deliveries. Resolves null once the queue is stopping and this
   * consumer has nothing left to do, or when `signal` aborts.
   */
  take(max: number, signal?: AbortSignal): Promise<Lease | null>;
  /** The lease's deliveries are applied: remove them. */
  ack(lease: Lease): Promise<void>;
  /** The lease could not be applied: hand its deliveries out again. */
  release(lease: Lease): Promise<void>;
}

export interface Queue extends QueueWriter, QueueReader {
  /** How this queue's delivery ids order and encode. */
  readonly positions: DeliveryPositions;
  /** Stop intake (enqueue rejects with 'unavailable'); takers drain what is left. */
  stopIntake(): void;
  close(): Promise<void>;
}
