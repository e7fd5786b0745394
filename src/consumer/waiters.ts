/**
 * Waiters for POST /publish?wait=true: the request registers its delivery ids and is
 * answered when the consumer has applied all of them, or times out. Only deliveries applied
 * by this process's workers are seen, so embedded mode and ROLE=all instances support it.
 */
import type { AppliedItem, ApplyResult } from '../ports/store.js';

interface Pending {
  readonly results: (AppliedItem | undefined)[];
  remaining: number;
  readonly resolve: (items: AppliedItem[]) => void;
}

export class ResultWaiters {
  private readonly byDelivery = new Map<string, { pending: Pending; index: number }>();

  /** Resolves with one item per id, in order; rejects on timeout. */
  wait(ids: readonly string[], timeoutMs: number): Promise<AppliedItem[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        for (const id of ids) this.byDelivery.delete(id);
        reject(new Error('timed out waiting for processing'));
      }, timeoutMs);
      const pending: Pending = {
        results: new Array<AppliedItem | undefined>(ids.length),
        remaining: ids.length,
        resolve: (items) => {
          clearTimeout(timer);
          resolve(items);
        },
      };
      ids.forEach((id, index) => this.byDelivery.set(id, { pending, index }));
    });
  }

  get size(): number {
    return this.byDelivery.size;
  }

  /** Called with every applied batch. */
  settle(result: ApplyResult): void {
    if (this.byDelivery.size === 0) return;
    for (const item of result.items) {
      const entry = this.byDelivery.get(item.delivery);
      if (entry === undefined) continue;
      this.byDelivery.delete(item.delivery);
      const { pending, index } = entry;
      pending.results[index] = item;
      if (--pending.remaining === 0) pending.resolve(pending.results as AppliedItem[]);
    }
  }
}
