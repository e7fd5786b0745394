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
 * - dedup keys outlive their events: a key whose event expired is still a duplicate (unless
 *   the store's DEDUP_WINDOW let it go, and then only once its event is gone).
 * - `expire` removes a prefix of the offsets (oldest first) in small steps, each one
 *   transaction with the counters it changes, so `unique_processed = stored + expired` and
 *   `stored` = the rows `list` can return hold after any crash.
 * - reads are bounded: `page` and `list` stop at a byte cap (never materialising much more
 *   than one page of events), and every filter is served by an index range bounded by the
 *   page size; `topics` is paged by name.
 */
import type { StoredEvent } from '../domain/event.js';
import type { EncodedPage, PageFormat } from '../domain/page.js';
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
  /** Events retained now: exactly the rows `list` can return. */
  readonly stored: number;
  /** Events removed by retention, lifetime. `unique_processed = stored + expired`. */
  readonly expired: number;
  /** src/domain/retention.ts eventBytes of the retained events. */
  readonly stored_bytes: number;
}

/**
 * The counters after one applied batch: `stored` new events of `bytes` (eventBytes) kept,
 * `duplicates` dropped. One definition for a store and any mirror of its counters.
 */
export function countersAfterApply<C extends StoreCounters>(
  c: C,
  applied: { readonly stored: number; readonly duplicates: number; readonly bytes: number },
): C {
  return {
    ...c,
    unique_processed: c.unique_processed + applied.stored,
    duplicate_dropped: c.duplicate_dropped + applied.duplicates,
    stored: c.stored + applied.stored,
    stored_bytes: c.stored_bytes + applied.bytes,
  };
}

/** What one expiry step did. */
export interface ExpiryStep {
  /** Events removed by this step. */
  readonly expired: number;
  /** Dedup keys forgotten by this step (DEDUP_WINDOW only). */
  readonly keysForgotten: number;
  /** True when more is due now: call again soon rather than after the idle interval. */
  readonly more: boolean;
}

export interface TopicSummary {
  readonly topic: string;
  readonly unique: number;
  readonly duplicates: number;
  /** Events of the topic retained now. */
  readonly stored: number;
  readonly last_offset: number | null;
  readonly last_processed_at: string | null;
}

/** One page of /topics: names above `after` (exclusive), in name order. */
export interface TopicsPage {
  readonly after?: string | undefined;
  readonly limit: number;
}

/** Bytes one list() may hold when the caller gives no cap (the /events page cap). */
export const DEFAULT_READ_BYTES = 32 * 1024 * 1024;

/** What a consumer needs. */
export interface EventWriter {
  apply(deliveries: readonly Delivery[], processedAt: Date): Promise<ApplyResult>;
}

/** What readers need. */
export interface EventReader {
  /** Rows of a query, stopping at `maxBytes` (default DEFAULT_READ_BYTES; at least one row). */
  list(query: EventsQuery, maxBytes?: number): Promise<StoredEvent[]>;
  /** A query's rows encoded for the wire as they are read, stopping at `maxBytes`. */
  page(query: EventsQuery, maxBytes: number, format: PageFormat): Promise<EncodedPage>;
  get(topic: string, eventId: string): Promise<StoredEvent | null>;
  /** Topics by name; every topic when no page is given (small deployments, tests). */
  topics(page?: TopicsPage): Promise<TopicSummary[]>;
  /** How many topics have a summary. */
  topicCount(): Promise<number>;
  counters(): Promise<StoreCounters>;
}

/** What the retention loop needs; the policy is the store's own (given at open). */
export interface EventExpirer {
  /** One small step of expiry (bounded rows), committed with its counter changes. */
  expire(now: Date): Promise<ExpiryStep>;
}

export interface Store extends EventWriter, EventReader, EventExpirer {
  ready(): Promise<boolean>;
  close(): Promise<void>;
}
