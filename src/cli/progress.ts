/**
 * Progress on stderr, so stdout stays clean for the report (and --json). On a terminal one
 * line is redrawn in place with \r; otherwise a plain line is printed every few seconds,
 * which reads well in CI logs and `docker logs`.
 */

export interface ProgressSink {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export interface ProgressState {
  readonly done: number;
  /** Infinity when the run is bounded by time only. */
  readonly total: number;
  readonly retries: number;
  readonly errors: number;
  readonly elapsedMs: number;
}

const WIDTH = 30;

export function renderProgress(s: ProgressState, tty: boolean): string {
  const rate = s.elapsedMs > 0 ? Math.round((s.done * 1000) / s.elapsedMs) : 0;
  const tail = `${s.done}${Number.isFinite(s.total) ? `/${s.total}` : ''} events  ${rate} ev/s  retries ${s.retries}  errors ${s.errors}`;
  if (!Number.isFinite(s.total) || s.total <= 0) return tty ? `\r${tail}` : `progress: ${tail}\n`;
  const ratio = Math.min(1, s.done / s.total);
  const pct = `${Math.floor(ratio * 100)}%`.padStart(4);
  if (!tty) return `progress: ${pct} ${tail}\n`;
  const filled = Math.round(ratio * WIDTH);
  return `\r[${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${pct} ${tail}\x1b[K`;
}

/** Calls `read()` on a timer and draws it; stop() draws the final state and ends the line. */
export function startProgress(sink: ProgressSink, read: () => ProgressState): { stop(): void } {
  const tty = sink.isTTY === true;
  const timer = setInterval(() => sink.write(renderProgress(read(), tty)), tty ? 100 : 2_000);
  timer.unref();
  return {
    stop(): void {
      clearInterval(timer);
      sink.write(renderProgress(read(), tty) + (tty ? '\n' : ''));
    },
  };
}
