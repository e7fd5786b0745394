/** Event factories for tests: valid by default, deterministic ids from a label. */
import { randomUUID } from 'node:crypto';

export interface TestEvent {
  topic: string;
  event_id: string;
  timestamp: string;
  source: string;
  payload: Record<string, unknown>;
}

export function makeEvent(overrides: Partial<TestEvent> = {}): TestEvent {
  return {
    topic: 'orders',
    event_id: randomUUID(),
    timestamp: '2025-10-24T00:00:00Z',
    source: 'checkout-svc',
    payload: { n: 1 },
    ...overrides,
  };
}

export function makeEvents(n: number, overrides: Partial<TestEvent> = {}): TestEvent[] {
  return Array.from({ length: n }, (_, i) => makeEvent({ payload: { i }, ...overrides }));
}

export const keyOf = (e: { topic: string; event_id: string }): string =>
  `${e.topic}\u0000${e.event_id}`;

/** Deterministic PRNG (mulberry32) so load shapes are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const a = items[i] as T;
    items[i] = items[j] as T;
    items[j] = a;
  }
  return items;
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Runs `tasks` with at most `concurrency` in flight; resolves with results in order. */
export async function runPool<T>(
  tasks: readonly (() => Promise<T>)[],
  concurrency: number,
): Promise<T[]> {
  const results = new Array<T>(tasks.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, tasks.length) }, async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await (tasks[i] as () => Promise<T>)();
    }
  });
  await Promise.all(lanes);
  return results;
}
