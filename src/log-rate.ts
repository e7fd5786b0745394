/**
 * A log line at a bounded rate: a failure that repeats for every request or every retry (a
 * full disk, a store that cannot write) is logged once per interval, with how many
 * occurrences were held back since, so the log cannot fill the disk that is already full.
 */
export class LogRate {
  private last = Number.NEGATIVE_INFINITY;
  private held = 0;

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** -1: stay silent now. Otherwise log, mentioning this many held-back occurrences. */
  admit(): number {
    const t = this.now();
    if (t - this.last < this.intervalMs) {
      this.held++;
      return -1;
    }
    this.last = t;
    const held = this.held;
    this.held = 0;
    return held;
  }
}
