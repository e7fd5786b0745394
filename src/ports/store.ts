/**
 * Store port: unique events, the dedup keys, and the lifetime counters.
 *
 * Contract (test/contract/store.contract.ts runs it against every adapter):
 * - `apply` is one transaction: every delivery is either applied or not at all.
 * - a key `(topic, event_id)` is stored once; later copies are 'duplicate' (first wins).
 * - a delivery id already applied is 'redelivered' and changes nothing: this is what keeps
 *   the counters exact when a consumer dies between the store commit and the queue ack.
 * - `offset` is assigned at commit, strictly increasing, and a reader paging with `after`
 *   never skips an event that becomes visible later.
 * - counters change only with the rows they count, in the same transaction.
 */
import type { StoredEvent } from '../domain/event.js';
import type { EventsQuery } from '../domain/schemas.js';
import type { Delivery } from './queue.js';

export type ApplyStatus = 'stored' | 'duplicate' | 'redelivered';

export interface AppliedItem {
  readonly delivery: string;
  readonly topic: string;
  readonly event_id: string;
  readonly status: ApplyStatus;
  /** Offset of the stored row (the earlier one for a duplicate); null when redelivered. */
  readonly offset: number | null;
}

export interface ApplyResult {
  readonly items: readonly AppliedItem[];
  readonly stored: number;
  readonly duplicates: number;
}

export interface StoreCounters {
  readonly unique_processed: number;
  readonly duplicate_dropped: number;
}

export interface TopicSummary {
  readonly topic: string;
  readonly unique: number;
  readonly duplicates: number;
  readonly last_offset: number | null;
  readonly last_processed_at: string | null;
}

/** What a consumer needs. */
export interface EventWriter {
  apply(deliveries: readonly Delivery[], processedAt: Date): Promise<ApplyResult>;
}

/** What readers need. */
export interface EventReader {
  list(query: EventsQuery): Promise<StoredEvent[]>;
  get(topic: string, eventId: string): Promise<StoredEvent | null>;
  topics(): Promise<TopicSummary[]>;
  counters(): Promise<StoreCounters>;
}

export interface Store extends EventWriter, EventReader {
  ready(): Promise<boolean>;
  close(): Promise<void>;
}
