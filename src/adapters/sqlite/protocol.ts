/** Messages between the main thread and the SQLite store thread. */
import type { StoredEvent } from '../../domain/event.js';
import type { EncodedPage, PageFormat } from '../../domain/page.js';
import type { EventsQuery } from '../../domain/schemas.js';
import type { Delivery } from '../../ports/queue.js';
import type { StoreCounters, TopicsPage, TopicSummary } from '../../ports/store.js';
import type { RetentionPolicy } from '../../domain/retention.js';
import type { Range } from './ranges.js';

/** What the main thread passes at start (structured-cloned). */
export interface ThreadData {
  readonly file: string;
  readonly retention: RetentionPolicy;
  /** FAULT_DURING_EXPIRY=kill: SIGKILL the process inside an expiry step (tests only). */
  readonly killDuringExpiry: boolean;
}

export type Request =
  | { readonly op: 'apply'; readonly deliveries: readonly Delivery[]; readonly at: number }
  | { readonly op: 'expire'; readonly now: number }
  | { readonly op: 'checkpoint' }
  | { readonly op: 'close' };

/** Per-delivery outcome packed into typed arrays: cheap to transfer between threads. */
export interface PackedApply {
  readonly stored: number;
  readonly duplicates: number;
  /** eventBytes of the events stored. */
  readonly bytes: number;
  /** 0 stored, 1 duplicate, 2 redelivered. */
  readonly status: Uint8Array;
  /** Offset, or 0 when none. */
  readonly offsets: Float64Array;
}

export type ResultOf<R extends Request> = R extends { op: 'apply' }
  ? PackedApply
  : R extends { op: 'expire' }
    ? ExpiredPacked
    : undefined;

/** An expiry step and the bytes it removed. */
export interface ExpiredPacked {
  readonly expired: number;
  readonly keysForgotten: number;
  readonly more: boolean;
  readonly bytes: number;
}

export interface Envelope {
  readonly id: number;
  readonly request: Request;
}

export type Reply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: { message: string; code?: string } };

/** Sent once when the thread has opened the database. */
export interface Hello {
  readonly hello: true;
  readonly counters: StoreCounters;
  readonly applied: readonly Range[];
  readonly topics: readonly string[];
}

export interface StartupFailure {
  readonly failed: true;
  readonly message: string;
}

/** Requests to a reader thread (reader-thread.ts): reads only, on its own connection. */
export type ReadRequest =
  | {
      readonly op: 'page';
      readonly query: EventsQuery;
      readonly maxBytes: number;
      readonly format: PageFormat;
    }
  | { readonly op: 'list'; readonly query: EventsQuery; readonly maxBytes: number }
  | { readonly op: 'get'; readonly topic: string; readonly eventId: string }
  | { readonly op: 'topics'; readonly page: TopicsPage }
  | { readonly op: 'topicCount' };

export type ReadResultOf<R extends ReadRequest> = R extends { op: 'page' }
  ? EncodedPage
  : R extends { op: 'list' }
    ? StoredEvent[]
    : R extends { op: 'get' }
      ? StoredEvent | null
      : R extends { op: 'topics' }
        ? TopicSummary[]
        : number;

/**
 * Sent to a reader thread at close: it closes its connection and ends its port, so the thread
 * exits by itself (a terminate() would tear its isolate down with the connection open, which
 * aborts the process on Node 24 with better-sqlite3 12: README, Node.js versions).
 */
export interface ReaderClose {
  readonly close: true;
}

export interface ReadEnvelope {
  readonly id: number;
  readonly request: ReadRequest;
}
