/**
 * Reader threads of the embedded store (reader-thread.ts), as one object: each read goes to
 * the thread with the fewest reads in flight, so a heavy page on one thread does not queue
 * the light reads (a dashboard's /topics, a single event) behind it when another is free.
 *
 * States: open -> closed. A thread that dies fails its pending reads; later reads go to the
 * remaining threads, and with none left every read fails (the store reports not ready).
 */
import { Worker } from 'node:worker_threads';
import type {
  ReadEnvelope,
  ReaderClose,
  ReadRequest,
  ReadResultOf,
  Reply,
  StartupFailure,
} from './protocol.js';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

/** How long a reader thread may take to finish its read and exit at close. */
const CLOSE_TIMEOUT_MS = 10_000;

class ReaderThread {
  private nextId = 1;
  readonly pending = new Map<number, Pending>();
  alive = true;

  constructor(readonly worker: Worker) {
    worker.on('message', (reply: Reply) => {
      const p = this.pending.get(reply.id);
      if (p === undefined) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.result);
      else p.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
    });
    const fail = (err: Error): void => {
      this.alive = false;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`reader thread exited with code ${code}`)));
  }

  close(): Promise<void> {
    if (!this.alive) return Promise.resolve();
    return new Promise((resolve) => {
      // A thread stuck in a read is stopped after a while rather than waited for forever.
      const timer = setTimeout(() => void this.worker.terminate(), CLOSE_TIMEOUT_MS);
      this.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      const message: ReaderClose = { close: true };
      this.worker.postMessage(message);
    });
  }

  call(request: ReadRequest): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const envelope: ReadEnvelope = { id, request };
      this.worker.postMessage(envelope);
    });
  }
}

export class ReaderPool {
  private constructor(private readonly threads: readonly ReaderThread[]) {}

  /** Starts `count` reader threads on `file` (which must exist: the writer created it). */
  static async open(file: string, count: number): Promise<ReaderPool> {
    const workers = Array.from(
      { length: count },
      () => new Worker(new URL('./reader-thread.js', import.meta.url), { workerData: { file } }),
    );
    const started = await Promise.allSettled(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            worker.once('message', (m: { hello: true } | StartupFailure) => {
              worker.off('error', reject);
              if ('failed' in m) reject(new Error(m.message));
              else resolve();
            });
            worker.once('error', reject);
          }),
      ),
    );
    const failed = started.find((s) => s.status === 'rejected');
    if (failed !== undefined) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw failed.reason;
    }
    return new ReaderPool(workers.map((w) => new ReaderThread(w)));
  }

  get alive(): boolean {
    return this.threads.some((t) => t.alive);
  }

  read<R extends ReadRequest>(request: R): Promise<ReadResultOf<R>> {
    let best: ReaderThread | undefined;
    for (const t of this.threads) {
      if (t.alive && (best === undefined || t.pending.size < best.pending.size)) best = t;
    }
    if (best === undefined) return Promise.reject(new Error('no reader thread is running'));
    return best.call(request) as Promise<ReadResultOf<R>>;
  }

  /** Each thread closes its connection and exits by itself (see ReaderClose). */
  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }
}
