/** Wakes live subscribers when this process stores events. */
export class Changes {
  private waiters = new Set<() => void>();

  /** Resolves at the next wake() or after `ms`, whichever comes first. */
  next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  wake(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }

  /** Subscribers currently waiting (for tests and metrics). */
  get size(): number {
    return this.waiters.size;
  }
}
