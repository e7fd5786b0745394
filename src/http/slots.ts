/**
 * A counting semaphore for heavy responses: at most `size` holders at once, the others wait
 * in arrival order. /events takes a slot before reading a page and gives it back when the
 * response has been sent (or the client went away), so at most `size` pages are ever held
 * in memory, however many clients ask at once and however slowly they read.
 */
export class Slots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  /** Resolves with a release function (idempotent) once a slot is free. */
  async acquire(): Promise<() => void> {
    if (this.used >= this.size) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.used++;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter: `used` stays the same.
      if (next !== undefined) next();
      else this.used--;
    };
  }
}
