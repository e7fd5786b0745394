/** The counters /stats reports and the invariant that ties them together. */

export interface Counters {
  /** Valid events accepted by /publish, lifetime. */
  readonly received: number;
  /** Unique events stored, lifetime. */
  readonly unique_processed: number;
  /** Copies of already stored keys dropped, lifetime. */
  readonly duplicate_dropped: number;
  /** Accepted events not yet applied to the store, including those being processed. */
  readonly queue_depth: number;
}

/** `received = unique_processed + duplicate_dropped + queue_depth`. */
export function invariantHolds(c: Counters): boolean {
  return c.received === c.unique_processed + c.duplicate_dropped + c.queue_depth;
}
