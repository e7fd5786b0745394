/** Messages between the main thread and the SQLite store thread, and how a batch is packed. */
import type { AcceptedEvent, StoredEvent } from '../../domain/event.js';
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
  | { readonly op: 'apply'; readonly columns: PackedDeliveries; readonly at: number }
  | { readonly op: 'expire'; readonly now: number }
  | { readonly op: 'checkpoint' }
  /** SqliteStore.heldOffset: the offset, or 0 when the key is not held. */
  | { readonly op: 'held'; readonly topic: string; readonly eventId: string }
  | { readonly op: 'close' };

/**
 * A batch's deliveries as one flat array of strings, FIELDS per delivery (id, topic,
 * event_id, timestamp, source, payload). Structured cloning an object writes its property
 * names again for every object; a flat array of strings is the same text without them.
 * Measured with 35-event batches (the W2 batch size), both threads together: 47-80 µs of
 * CPU per message against 77-135 µs for the objects.
 *
 * The array must be dense (built by push, not `new Array(n)`): V8 keeps an array created
 * with holes "holey" even once every slot is filled, and the serializer writes a holey array
 * in its sparse form, an index before every element, which the store thread then rebuilds
 * property by property. Measured with 500-record batches of OTLP-sized events (a throwaway
 * round trip to a worker, both threads' CPU): 471-524 µs per batch dense against 769-961 µs
 * holey.
 */
export type PackedDeliveries = readonly string[];
const FIELDS = 6;

export function packDeliveries(deliveries: readonly Delivery[]): PackedDeliveries {
  const out: string[] = [];
  for (const { id, event } of deliveries) {
    out.push(id, event.topic, event.event_id, event.timestamp, event.source, event.payload);
  }
  return out;
}

export function unpackDeliveries(packed: PackedDeliveries): Delivery[] {
  const n = packed.length / FIELDS;
  if (!Number.isInteger(n)) throw new TypeError(`a packed batch holds ${packed.length} strings`);
  const out = new Array<Delivery>(n);
  for (let i = 0, j = 0; i < n; i++, j += FIELDS) {
    out[i] = {
      id: packed[j] as string,
      // `satisfies` names every field of AcceptedEvent, optional ones included: a field
      // added there fails to compile here until it is packed too, instead of being dropped.
      event: {
        topic: packed[j + 1] as string,
        event_id: packed[j + 2] as string,
        timestamp: packed[j + 3] as string,
        source: packed[j + 4] as string,
        payload: packed[j + 5] as string,
      } satisfies { readonly [K in keyof Required<AcceptedEvent>]: string },
    };
  }
  return out;
}

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
    : R extends { op: 'held' }
      ? number
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
  | {
      readonly op: 'get';
      readonly topic: string;
      readonly eventId: string;
      /** The writer's held offset for the key (reads.ts get), or null. */
      readonly held: number | null;
    }
  | { readonly op: 'topics'; readonly page: TopicsPage }
  | { readonly op: 'topicCount' }
  /**
   * The check after start (damage.ts): every table with its indexes, then, with `rows`,
   * every event row's checksum; the first finding, or null.
   */
  | { readonly op: 'check'; readonly rows: boolean };

export type ReadResultOf<R extends ReadRequest> = R extends { op: 'page' }
  ? EncodedPage
  : R extends { op: 'list' }
    ? StoredEvent[]
    : R extends { op: 'get' }
      ? StoredEvent | null
      : R extends { op: 'topics' }
        ? TopicSummary[]
        : R extends { op: 'check' }
          ? string | null
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
