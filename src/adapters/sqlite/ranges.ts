/**
 * Sorted, disjoint, closed integer intervals: the set of queue sequence numbers a store has
 * applied. Usually one interval [1, n] plus, briefly, a few gaps while batches overlap.
 */
export type Range = readonly [from: number, to: number];

/** Turns ascending-ish numbers into maximal runs of consecutive values. */
export function toRuns(values: readonly number[]): Range[] {
  const sorted = [...values].sort((a, b) => a - b);
  const runs: [number, number][] = [];
  for (const v of sorted) {
    const last = runs.at(-1);
    if (last !== undefined && v <= last[1] + 1) last[1] = Math.max(last[1], v);
    else runs.push([v, v]);
  }
  return runs;
}

export class RangeSet {
  private ranges: Range[];

  constructor(ranges: readonly Range[] = []) {
    this.ranges = [...ranges].sort((a, b) => a[0] - b[0]);
  }

  has(value: number): boolean {
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const [from, to] = this.ranges[mid] as Range;
      if (value < from) hi = mid - 1;
      else if (value > to) lo = mid + 1;
      else return true;
    }
    return false;
  }

  /** Highest value in the set, 0 when empty. */
  max(): number {
    return this.ranges.at(-1)?.[1] ?? 0;
  }

  /**
   * Adds a run; returns the ranges it merged away (by their `from`) and the merged range,
   * so the caller can mirror the change in a table.
   */
  add(run: Range): { removed: number[]; merged: Range } {
    let [from, to] = run;
    const removed: number[] = [];
    const kept: Range[] = [];
    for (const r of this.ranges) {
      if (r[1] + 1 < from || r[0] - 1 > to) {
        kept.push(r);
      } else {
        from = Math.min(from, r[0]);
        to = Math.max(to, r[1]);
        removed.push(r[0]);
      }
    }
    const merged: Range = [from, to];
    kept.push(merged);
    kept.sort((a, b) => a[0] - b[0]);
    this.ranges = kept;
    return { removed, merged };
  }

  toArray(): readonly Range[] {
    return this.ranges;
  }
}
