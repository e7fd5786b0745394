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
 */
import type { AcceptedEvent } from '../domain/event.js';

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
  /** Stop intake (enqueue rejects with 'unavailable'); takers drain what is left. */
  stopIntake(): void;
  close(): Promise<void>;
}
