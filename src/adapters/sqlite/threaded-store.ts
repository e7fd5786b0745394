/**
 * The SQLite store as seen from the main thread: every write is a message to the store
 * thread (thread.ts), answered in order. Batch transactions therefore run on the second
 * core while the event loop keeps parsing, validating and appending to the queue log.
 * Reads go to reader threads (reader-pool.ts) with their own read-only connections, so a
 * burst of heavy /events pages never queues in front of an apply.
 *
 * Counters and topic names are mirrored here and updated when an apply's reply arrives, in
 * one synchronous step with the `afterApply` hook (the embedded composition acks the
 * deliveries in the queue there), so /stats sees the store's counters and the queue's depth
 * change together and the invariant holds in every response by construction.
 */
import { Worker } from 'node:worker_threads';
import type { StoredEvent } from '../../domain/event.js';
import type { EncodedPage, PageFormat } from '../../domain/page.js';
import type { EventsQuery } from '../../domain/schemas.js';
import { KEEP_FOREVER, type RetentionPolicy } from '../../domain/retention.js';
import type { Delivery } from '../../ports/queue.js';
import type {
  AppliedItem,
  ApplyResult,
  ExpiryStep,
  Store,
  StoreCounters,
  TopicsPage,
  TopicSummary,
} from '../../ports/store.js';
import { countersAfterApply, DEFAULT_READ_BYTES } from '../../ports/store.js';
import {
  packDeliveries,
  type Envelope,
  type Hello,
  type PackedApply,
  type ReadRequest,
  type ReadResultOf,
  type Reply,
  type Request,
  type ResultOf,
  type StartupFailure,
  type ThreadData,
} from './protocol.js';
import { damageLine, isDamageError, ROW_DAMAGE, writeMarker } from './damage.js';
import { RangeSet } from './ranges.js';
import { ReaderPool } from './reader-pool.js';

const STATUS = ['stored', 'duplicate', 'redelivered'] as const;

/**
 * Two reader threads: on the 2-core machines this runs on, one more would only add a V8
 * heap; two let a light read proceed beside one heavy page.
 */
const READER_THREADS = 2;

export interface ThreadedStoreOptions {
  readonly retention?: RetentionPolicy;
  /** Tests only: SIGKILL the process inside an expiry step (FAULT_DURING_EXPIRY=kill). */
  readonly killDuringExpiry?: boolean;
  /** Reader threads (each with its own read-only connection). */
  readonly readers?: number;
  /** The full check again this long after the last one ended (null: after start only). */
  readonly checkIntervalMs?: number | null;
  /** Called when a full check ends without finding damage, with how long it took. */
  readonly onCheckPassed?: (ms: number) => void;
  /** Called when a full check fails on something other than damage (it runs again later). */
  readonly onCheckFailed?: (err: Error) => void;
  /**
   * Called with an applied batch's deliveries in the same synchronous step as the counter
   * mirror update, before `apply` resolves (see the header).
   */
  readonly afterApply?: (deliveries: readonly Delivery[]) => void;
  /**
   * Called once, with the line that names it, when damage to the database is found while
   * running (a failed read or write, or the check after start: damage.ts).
   */
  readonly onDamage?: (line: string) => void;
}

export async function openThreadedSqliteStore(
  file: string,
  opts: ThreadedStoreOptions = {},
): Promise<ThreadedSqliteStore> {
  const readers = opts.readers ?? READER_THREADS;
  const workerData: ThreadData = {
    file,
    retention: opts.retention ?? KEEP_FOREVER,
    killDuringExpiry: opts.killDuringExpiry ?? false,
  };
  const worker = new Worker(new URL('./thread.js', import.meta.url), { workerData });
  const hello = await new Promise<Hello>((resolve, reject) => {
    const onMessage = (message: Hello | StartupFailure): void => {
      worker.off('error', reject);
      if ('failed' in message) reject(new Error(message.message));
      else resolve(message);
    };
    worker.once('message', onMessage);
    worker.once('error', reject);
  });
  // Not awaited: the reader threads boot while the caller builds the HTTP server (they were
  // ~150 ms of a ~1.3 s start, in sequence); ready() waits for them.
  const store = new ThreadedSqliteStore(
    worker,
    hello,
    ReaderPool.start(file, readers),
    file,
    opts.afterApply,
    opts.onDamage,
    opts.checkIntervalMs ?? null,
    opts.onCheckPassed,
    opts.onCheckFailed,
  );
  // Start-up reads only a few pages; this reads the others once, on a reader thread.
  store.checkInBackground();
  return store;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

export class ThreadedSqliteStore implements Store {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private counterMirror: StoreCounters;
  private readonly topicMirror: Set<string>;
  private readonly applied: RangeSet;
  private isAlive = true;
  /** The line naming damage found while running (damage.ts), or null. */
  private damage: string | null = null;
  /** The next full check (checkInBackground), while one is due. */
  private checkTimer: NodeJS.Timeout | null = null;
  private closing = false;

  constructor(
    private readonly worker: Worker,
    hello: Hello,
    private readonly readers: ReaderPool,
    private readonly file: string,
    private readonly afterApply?: (deliveries: readonly Delivery[]) => void,
    private readonly onDamage?: (line: string) => void,
    private readonly checkIntervalMs: number | null = null,
    private readonly onCheckPassed?: (ms: number) => void,
    private readonly onCheckFailed?: (err: Error) => void,
  ) {
    this.counterMirror = hello.counters;
    this.topicMirror = new Set(hello.topics);
    this.applied = new RangeSet(hello.applied);
    worker.on('message', (reply: Reply) => this.onReply(reply));
    worker.on('error', (err) => this.failAll(err));
    worker.on('exit', (code) => {
      this.isAlive = false;
      this.failAll(new Error(`store thread exited with code ${code}`));
    });
  }

  /** False once the store thread or every reader thread has exited (closed, or crashed). */
  get alive(): boolean {
    return this.isAlive && this.readers.alive;
  }

  /** True once damage to the database has been found (/healthz fails: damage.ts). */
  get damaged(): boolean {
    return this.damage !== null;
  }

  /**
   * The full check, beside the traffic (damage.ts): after start, then every checkIntervalMs
   * after the last one ended, so damage to rows no read reaches (an old event nobody asks
   * for) is found within an interval instead of at the next start. Damage found is recorded.
   */
  checkInBackground(): void {
    const started = performance.now();
    this.readers.check(true).then(
      (finding) => {
        // A check cut short by close ends as if it found nothing: it says nothing then.
        if (this.damage !== null || this.closing) return;
        if (finding === null) {
          this.onCheckPassed?.(performance.now() - started);
          if (this.checkIntervalMs !== null) this.checkAgainIn(this.checkIntervalMs);
          return;
        }
        const line = damageLine(this.file, finding, finding);
        this.recordDamage(line);
        this.onDamage?.(line);
      },
      // One that failed on damage is recorded as for a read; on anything else (a busy
      // file, a reader thread gone) the next check is still due.
      (err: unknown) => {
        this.noteFailure(err);
        if (this.damage !== null || this.closing) return;
        this.onCheckFailed?.(err instanceof Error ? err : new Error(String(err)));
        if (this.checkIntervalMs !== null) this.checkAgainIn(this.checkIntervalMs);
      },
    );
  }

  /** Longest delay a timer takes (a longer one fires at once); longer waits are chained. */
  private static readonly MAX_TIMER_MS = 2_147_483_647;

  private checkAgainIn(ms: number): void {
    const step = Math.min(ms, ThreadedSqliteStore.MAX_TIMER_MS);
    this.checkTimer = setTimeout(() => {
      this.checkTimer = null;
      if (ms > step) this.checkAgainIn(ms - step);
      else this.checkInBackground();
    }, step);
    this.checkTimer.unref();
  }

  /**
   * For a failed request: damage is recorded at once. A row's damage names its offset and is
   * logged at once; SQLite's is located first by a check of the tables (not the rows).
   */
  private noteFailure(err: unknown): void {
    if (!isDamageError(err) || this.damage !== null) return;
    const found = (err as Error).message;
    this.recordDamage(damageLine(this.file, found, null));
    if ((err as { code?: unknown }).code === ROW_DAMAGE) {
      this.onDamage?.(this.damage ?? found);
      return;
    }
    this.readers
      .check(false)
      .then(
        (where) => {
          if (where !== null) this.recordDamage(damageLine(this.file, found, where));
        },
        () => undefined,
      )
      .finally(() => this.onDamage?.(this.damage ?? found));
  }

  /** /healthz fails from here on, and the marker makes the next start stop with `line`. */
  private recordDamage(line: string): void {
    this.damage = line;
    writeMarker(this.file, line);
  }

  private read<R extends ReadRequest>(request: R): Promise<ReadResultOf<R>> {
    return this.readers.read(request).catch((err: unknown) => {
      this.noteFailure(err);
      throw err;
    });
  }

  /** Applied sequence numbers as of opening (for the queue log's recovery). */
  isApplied(seq: number): boolean {
    return this.applied.has(seq);
  }

  maxAppliedSeq(): number {
    return this.applied.max();
  }

  private call<R extends Request>(request: R): Promise<ResultOf<R>> {
    if (!this.isAlive) return Promise.reject(new Error('the store is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const envelope: Envelope = { id, request };
      this.worker.postMessage(envelope);
    });
  }

  private onReply(reply: Reply): void {
    const pending = this.pending.get(reply.id);
    if (pending === undefined) return;
    this.pending.delete(reply.id);
    if (reply.ok) {
      pending.resolve(reply.result);
      return;
    }
    const err = Object.assign(new Error(reply.error.message), { code: reply.error.code });
    this.noteFailure(err);
    pending.reject(err);
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  async apply(deliveries: readonly Delivery[], processedAt: Date): Promise<ApplyResult> {
    const packed: PackedApply = await this.call({
      op: 'apply',
      columns: packDeliveries(deliveries),
      at: processedAt.getTime(),
    });
    // One synchronous step with afterApply, no await between them: see the header comment.
    this.counterMirror = countersAfterApply(this.counterMirror, packed);
    this.afterApply?.(deliveries);
    const items: AppliedItem[] = new Array<AppliedItem>(deliveries.length);
    for (let i = 0; i < deliveries.length; i++) {
      const { id, event } = deliveries[i] as Delivery;
      const status = STATUS[packed.status[i] ?? 2] ?? 'redelivered';
      const offset = packed.offsets[i] ?? 0;
      if (status === 'stored') this.topicMirror.add(event.topic);
      items[i] = {
        delivery: id,
        topic: event.topic,
        event_id: event.event_id,
        status,
        offset: offset === 0 ? null : offset,
      };
    }
    return { items, stored: packed.stored, duplicates: packed.duplicates };
  }

  async expire(now: Date): Promise<ExpiryStep> {
    const step = await this.call({ op: 'expire', now: now.getTime() });
    // As for apply: the mirror changes in the macrotask of the reply, in one assignment, so
    // every /stats sees unique_processed = stored + expired.
    const c = this.counterMirror;
    this.counterMirror = {
      ...c,
      stored: c.stored - step.expired,
      expired: c.expired + step.expired,
      stored_bytes: c.stored_bytes - step.bytes,
    };
    return { expired: step.expired, keysForgotten: step.keysForgotten, more: step.more };
  }

  list(query: EventsQuery, maxBytes = DEFAULT_READ_BYTES): Promise<StoredEvent[]> {
    return this.read({ op: 'list', query, maxBytes });
  }

  page(query: EventsQuery, maxBytes: number, format: PageFormat): Promise<EncodedPage> {
    return this.read({ op: 'page', query, maxBytes, format });
  }

  /**
   * Two hops: the store thread says whether it holds the key in memory (a map lookup between
   * two batches), then a reader thread reads the row (reads.ts get says why in that order).
   */
  async get(topic: string, eventId: string): Promise<StoredEvent | null> {
    const held = await this.call({ op: 'held', topic, eventId });
    return this.read({ op: 'get', topic, eventId, held: held === 0 ? null : held });
  }

  topics(page: TopicsPage = { limit: Number.MAX_SAFE_INTEGER }): Promise<TopicSummary[]> {
    return this.read({ op: 'topics', page });
  }

  /** From the mirror: the topics with at least one stored event. */
  topicCount(): Promise<number> {
    return Promise.resolve(this.topicCountNow());
  }

  topicCountNow(): number {
    return this.topicMirror.size;
  }

  /**
   * The first `max` topic names with at least one stored event, from the mirror (no thread
   * round trip, so they match the counters of the same instant).
   */
  topicNames(max = Number.MAX_SAFE_INTEGER): string[] {
    const all = [...this.topicMirror].sort();
    return all.length > max ? all.slice(0, max) : all;
  }

  counters(): Promise<StoreCounters> {
    return Promise.resolve(this.counterMirror);
  }

  /** The mirror as of now, for a snapshot read in one synchronous step with the queue's. */
  countersNow(): StoreCounters {
    return this.counterMirror;
  }

  checkpoint(): Promise<void> {
    return this.call({ op: 'checkpoint' });
  }

  /** True once the reader threads have opened their connections, while all is alive. */
  ready(): Promise<boolean> {
    return this.readers.started.then(
      () => this.alive,
      () => false,
    );
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.checkTimer !== null) clearTimeout(this.checkTimer);
    this.checkTimer = null;
    await this.readers.close();
    if (!this.isAlive) return;
    await this.call({ op: 'close' });
    this.isAlive = false;
    await this.worker.terminate();
  }
}
