/**
 * The compositions by MODE name: embedded and cluster are built in; a test fixture (or a new
 * backend) adds its own with `registerComposition` before the config is loaded. config.ts
 * resolves MODE (or the QUEUE/STORE aliases) here, app.ts opens what it resolved.
 *
 * Guarantees: a name is registered once (a second registration of the same name throws), so
 * a QUEUE/STORE pair selects at most one composition; the order of `compositions()` is the
 * order of registration (built-ins first), which is the order error messages list them in.
 */
import { clusterComposition } from './cluster.js';
import type { Composition } from './composition.js';
import { embeddedComposition } from './embedded.js';

const byMode = new Map<string, Composition>();

export function registerComposition(composition: Composition): void {
  if (byMode.has(composition.mode)) {
    throw new Error(`a composition named ${composition.mode} is registered already`);
  }
  for (const other of byMode.values()) {
    if (other.queue === composition.queue && other.store === composition.store) {
      throw new Error(
        `QUEUE=${composition.queue} STORE=${composition.store} selects MODE=${other.mode} already`,
      );
    }
  }
  byMode.set(composition.mode, composition);
}

export function compositions(): readonly Composition[] {
  return [...byMode.values()];
}

export function compositionNamed(mode: string): Composition | undefined {
  return byMode.get(mode);
}

/** The composition a QUEUE/STORE pair selects, if any. */
export function compositionOf(queue: string, store: string): Composition | undefined {
  return compositions().find((c) => c.queue === queue && c.store === store);
}

registerComposition(embeddedComposition);
registerComposition(clusterComposition);
