/**
 * What a composition declares (src/adapters/registry.ts keeps them by name): the MODE name,
 * the QUEUE/STORE pair it answers to as aliases, which settings it accepts, and how it opens
 * its Backend (src/ports/backend.ts). Declarations, and the one close() every Backend shares.
 */
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Backend } from '../ports/backend.js';

/** A setting a composition refuses: config.ts turns it into one ConfigError line. */
export interface ConfigProblem {
  readonly variable: string;
  readonly message: string;
}

export interface OpenContext {
  readonly log: Logger;
}

export interface Composition {
  /** The MODE value that selects it. */
  readonly mode: string;
  /** QUEUE and STORE values that select it too (the pre-MODE settings). */
  readonly queue: string;
  readonly store: string;
  /** Accepts ROLE=api|worker (several processes share the queue and the store). */
  readonly splitsRoles: boolean;
  /** Settings it needs beyond the common ones; null when they are fine. */
  check?(config: Config): ConfigProblem | null;
  open(config: Config, ctx: OpenContext): Promise<Backend>;
}

/**
 * A Backend's close(): the queue, then the store (a store closed first would fail the queue's
 * last writes), once; later calls share the first call's promise.
 */
export function closeInOrder(
  queue: { close(): Promise<void> },
  store: { close(): Promise<void> },
): () => Promise<void> {
  let closing: Promise<void> | null = null;
  return () => {
    closing ??= (async () => {
      await queue.close();
      await store.close();
    })();
    return closing;
  };
}
