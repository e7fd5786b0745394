/**
 * Reader threads of the embedded store (reader-thread.ts), as one object: each read goes to
 * the thread with the fewest reads in flight, so a heavy page on one thread does not queue
 * the light reads (a dashboard's /topics, a single event) behind it when another is free.
 *
 * States: starting -> open -> closed. `start` returns at once: the threads boot (a Node
 * environment and better-sqlite3 each, ~100-150 ms on this 2-core VM) while the main thread
 * builds the HTTP server, instead of before it. A read sent while its thread is still
 * starting waits in the thread's message port and is answered once the connection is open.
 * `started` settles when every thread has opened its connection (or one failed). A thread
 * that fails to start or dies fails its pending reads; later reads go to the remaining
 * threads, and with none left every read fails (the store reports not ready).
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
  /** Checks in progress here (ReaderPool.check): reads go to another thread when they can. */
  checks = 0;
  /** Resolves at the thread's hello (connection open); rejects if it fails to start. */
  readonly started: Promise<void>;

  constructor(readonly worker: Worker) {
    let hello = false;
    let onStarted: { resolve: () => void; reject: (err: Error) => void } | undefined;
    this.started = new Promise<void>((resolve, reject) => {
      onStarted = { resolve, reject };
    });
    // Observed here so a failed start is never an unhandled rejection; callers await it too.
    this.started.catch(() => undefined);
    worker.on('message', (reply: Reply | { hello: true } | StartupFailure) => {
      if (!hello) {
        // The first message is the thread's hello or its startup failure.
        hello = true;
        if ('failed' in reply) fail(new Error(reply.message));
        else onStarted?.resolve();
        return;
      }
      if (!('id' in reply)) return;
      const p = this.pending.get(reply.id);
      if (p === undefined) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.result);
      else p.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
    });
    const fail = (err: Error): void => {
      this.alive = false;
      onStarted?.reject(err);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`reader thread exited with code ${code}`)));
  }

  close(): Promise<void> {
    if (!this.alive) return Promise.resolve();
    return new Promise((resolve) => {
      // A thread stuck in a read is stopped after a while rather than waited for forever
      // (once back from native code: terminate() cannot cut a running SQLite call short).
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
  /** Settles once every thread opened its connection; rejects with the first failure. */
  readonly started: Promise<void>;

  private constructor(private readonly threads: readonly ReaderThread[]) {
    this.started = Promise.all(threads.map((t) => t.started)).then(() => undefined);
    this.started.catch(() => undefined);
  }

  /** Starts `count` reader threads on `file` (which must exist: the writer created it). */
  static start(file: string, count: number): ReaderPool {
    return new ReaderPool(
      Array.from(
        { length: count },
        () =>
          new ReaderThread(
            new Worker(new URL('./reader-thread.js', import.meta.url), { workerData: { file } }),
          ),
      ),
    );
  }

  get alive(): boolean {
    return this.threads.some((t) => t.alive);
  }

  read<R extends ReadRequest>(request: R): Promise<ReadResultOf<R>> {
    const best = this.pick();
    if (best === undefined) return Promise.reject(new Error('no reader thread is running'));
    return best.call(request) as Promise<ReadResultOf<R>>;
  }

  /**
   * The check after start (damage.ts) on one thread, which reads then avoid while another
   * thread is alive: a table's integrity_check is one native call that a read sent there would
   * wait out.
   */
  check(rows: boolean): Promise<string | null> {
    const t = this.pick();
    if (t === undefined) return Promise.reject(new Error('no reader thread is running'));
    t.checks++;
    const done = t.call({ op: 'check', rows }) as Promise<string | null>;
    return done.finally(() => {
      t.checks--;
    });
  }

  /** The live thread with the least waiting: its reads in flight, a check counting as many. */
  private pick(): ReaderThread | undefined {
    let best: ReaderThread | undefined;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (const t of this.threads) {
      const load = t.pending.size + t.checks * 1_000_000;
      if (t.alive && load < bestLoad) {
        best = t;
        bestLoad = load;
      }
    }
    return best;
  }

  /** Each thread closes its connection and exits by itself (see ReaderClose). */
  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }
}
