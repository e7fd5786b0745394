/** Wire types shared by the client and the CLI. They mirror SPEC.md §2 and §3. */
import type { Static } from '@sinclair/typebox';
import type { StatsSchema } from '../domain/schemas.js';

/** One log event as POST /publish takes it. */
export interface PublishEvent {
  /** 1-200 chars, `^[A-Za-z0-9][A-Za-z0-9._:/-]*$`. */
  readonly topic: string;
  /** 1-200 chars, unique per topic; `uuidv7()` is a good choice. */
  readonly event_id: string;
  /** RFC 3339 with an offset or `Z`. */
  readonly timestamp: string;
  readonly source: string;
  readonly payload: Readonly<Record<string, unknown>>;
}

/** GET /stats, as the server's StatsSchema declares it (a type-only import: nothing loads). */
export type ServerStats = Readonly<Static<typeof StatsSchema>>;

/** What the publisher has done so far; every field only grows. */
export interface PublisherCounters {
  /** HTTP requests made, first attempts and retries. */
  readonly requests: number;
  /** Attempts after the first one. */
  readonly retries: number;
  /** Responses that were not 2xx (4xx, 5xx, 503 ...). */
  readonly httpErrors: number;
  /** Attempts that got no response: refused, reset, timed out. */
  readonly networkErrors: number;
  /** Of networkErrors, those that hit the request timeout. */
  readonly timeouts: number;
  /** Batches and events the server acknowledged. */
  readonly batchesSent: number;
  readonly eventsSent: number;
  /** Sum of `accepted` in the server's 202 answers. */
  readonly eventsAccepted: number;
  /** Batches and events given up on (rejected, retries exhausted, aborted). */
  readonly batchesFailed: number;
  readonly eventsFailed: number;
  /**
   * Events sent again after an attempt that may have reached the server (timeout, dropped
   * connection, 500). The server may count each such resend as one extra duplicate.
   */
  readonly eventsMaybeRedelivered: number;
}

/** Reported once per HTTP attempt, e.g. to build a latency histogram. */
export interface RequestInfo {
  readonly url: string;
  /** 1 for the first attempt of a batch. */
  readonly attempt: number;
  readonly events: number;
  readonly durationMs: number;
  /** Undefined when no response arrived. */
  readonly status: number | undefined;
  readonly error: Error | undefined;
}
