/** What the HTTP layer is given: narrow views of the ports and a few app-level functions. */
import type { Static } from '@sinclair/typebox';
import type { StatsSchema } from '../domain/schemas.js';
import type { EventValidator } from '../domain/validate.js';
import type { Metrics } from '../metrics.js';
import type { Changes } from './changes.js';
import type { ResultWaiters } from '../consumer/waiters.js';
import type { QueueWriter } from '../ports/queue.js';
import type { EventReader } from '../ports/store.js';

/** GET /stats: the shape is declared once, by StatsSchema (which also serialises it). */
export type StatsView = Readonly<Static<typeof StatsSchema>>;

export interface Intake {
  /** False from SIGTERM on: /publish answers 503. */
  accepting: boolean;
  /** Rejected /publish requests since start. */
  rejected: number;
}

export interface HttpContext {
  readonly queue: QueueWriter;
  readonly reader: EventReader;
  readonly validate: EventValidator;
  readonly stats: () => Promise<StatsView>;
  /** Named readiness checks; /readyz is 200 only when all are true. */
  readonly readiness: () => Promise<Record<string, boolean>>;
  readonly waiters: ResultWaiters | null;
  /** Named liveness checks; /healthz fails when one is false (see app.ts). */
  readonly liveness: () => Record<string, boolean>;
  readonly intake: Intake;
  /** How long ?wait=true may wait for processing. */
  readonly waitTimeoutMs: number;
  readonly metrics: Metrics;
  /** Woken whenever this process stores events (live subscribers). */
  readonly changes: Changes;
  /** Aborted when the app starts to close: long-lived responses (SSE) end. */
  readonly closing: AbortSignal;
  /** Most concurrent /subscribe streams (503 beyond). */
  readonly maxSubscribers: number;
}
