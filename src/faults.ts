/**
 * Fault injection for the crash tests (FAULT_AFTER_COMMIT=kill): SIGKILL this process at a
 * named point, so a test can prove what survives a crash exactly there. Unset in production,
 * and then no hook exists at all (the worker loop checks for none). The store-side point
 * (FAULT_DURING_EXPIRY, inside an expiry transaction) is the composition's, since only the
 * store knows where its transaction is.
 */
import type { Logger } from 'pino';
import type { Config } from './config.js';

export interface WorkerFaults {
  /** Between a batch's store commit and its queue ack. */
  readonly afterCommit?: () => void;
}

export function workerFaults(config: Pick<Config, 'faultAfterCommit'>, log: Logger): WorkerFaults {
  if (config.faultAfterCommit !== 'kill') return {};
  return {
    afterCommit: () => {
      log.fatal('fault injection: SIGKILL after the store commit, before the queue ack');
      process.kill(process.pid, 'SIGKILL');
    },
  };
}
