/**
 * The retention loop: calls the store's `expire` step, again soon while the store says more
 * is due, otherwise after an idle interval. One step at a time (never two in flight), so
 * expiry takes at most one step's worth of store time between two applies and never stalls
 * ingest or processing; a failed step (store down) is retried after the idle interval.
 *
 * States: idle (timer armed) -> stepping -> idle ... -> stopped. `stop()` waits for a step
 * in flight, so the store is never closed under it.
 */
import type { Logger } from 'pino';
import { keepsEverything, type RetentionPolicy } from '../domain/retention.js';
import type { EventExpirer } from '../ports/store.js';

export interface ExpiryDeps {
  readonly store: EventExpirer;
  readonly policy: RetentionPolicy;
  readonly log: Logger;
  readonly now?: () => Date;
  /** Called after every step that removed something (metrics, tests). */
  readonly onStep?: (expired: number, keysForgotten: number) => void;
}

export interface ExpiryLoop {
  stop(): Promise<void>;
}

/** Pause between steps while a backlog is being expired: lets queued applies go first. */
const BUSY_PAUSE_MS = 5;

/**
 * Idle interval: a tenth of the shortest duration in the policy, between 100 ms and 5 s, so
 * an event outlives RETENTION_MAX_AGE by at most ~10 % (or 5 s) plus the backlog's steps.
 */
export function idleIntervalMs(policy: RetentionPolicy): number {
  const durations = [policy.maxAgeMs, policy.dedupWindowMs].filter((d): d is number => d !== null);
  const shortest = durations.length > 0 ? Math.min(...durations) : 10_000;
  return Math.min(5_000, Math.max(100, Math.floor(shortest / 10)));
}

export function startExpiry(deps: ExpiryDeps): ExpiryLoop {
  if (keepsEverything(deps.policy)) return { stop: () => Promise.resolve() };
  const now = deps.now ?? (() => new Date());
  const idle = idleIntervalMs(deps.policy);
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<void> = Promise.resolve();

  const schedule = (ms: number): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      timer = null;
      inFlight = step();
    }, ms);
    timer.unref();
  };
  const step = async (): Promise<void> => {
    try {
      const r = await deps.store.expire(now());
      if (r.expired > 0 || r.keysForgotten > 0) {
        deps.log.debug({ expired: r.expired, keysForgotten: r.keysForgotten }, 'expiry step');
        deps.onStep?.(r.expired, r.keysForgotten);
      }
      schedule(r.more ? BUSY_PAUSE_MS : idle);
    } catch (err) {
      if (!stopped) deps.log.warn({ err }, 'expiry step failed; retrying later');
      schedule(idle);
    }
  };
  schedule(0);
  return {
    stop: async () => {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
      await inFlight;
    },
  };
}
