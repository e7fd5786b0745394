/**
 * The shutdown sequence, in this order and once (later calls share the first's promise):
 * 1. intake closes (/publish answers 503, streams end, the queue refuses enqueues);
 * 2. the workers drain what is queued, for at most SHUTDOWN_TIMEOUT_S, then stop with the
 *    rest still queued (it is durable: the next start delivers it);
 * 3. expiry stops after its current step;
 * 4. the HTTP server closes (in-flight requests finish);
 * 5. the backend closes (its own jobs, then queue, then store).
 */
import type { Logger } from 'pino';
import type { ExpiryLoop } from './consumer/expiry.js';
import type { Workers } from './consumer/worker.js';
import type { Intake } from './http/context.js';
import type { Changes } from './http/changes.js';
import type { Backend } from './ports/backend.js';

export interface ShutdownParts {
  readonly intake: Intake;
  /** Aborted at step 1: long-lived readers (/subscribe) end. */
  readonly closing: AbortController;
  readonly changes: Changes;
  readonly backend: Backend;
  readonly workers: Workers | null;
  readonly expiry: ExpiryLoop | null;
  readonly server: { close(): Promise<unknown> };
  readonly drainTimeoutMs: number;
  readonly log: Logger;
}

export function shutdownSequence(p: ShutdownParts): () => Promise<void> {
  let closing: Promise<void> | null = null;
  return () => {
    closing ??= (async () => {
      p.intake.accepting = false;
      p.closing.abort();
      p.changes.wake();
      p.backend.queue.stopIntake();
      if (p.workers !== null) {
        const workers = p.workers;
        const timer = setTimeout(() => {
          p.log.warn('drain timed out; stopping workers with events still queued');
          workers.abort();
        }, p.drainTimeoutMs);
        await workers.done;
        clearTimeout(timer);
      }
      await p.expiry?.stop();
      await p.server.close();
      await p.backend.close();
    })();
    return closing;
  };
}
