/**
 * The dedup keys of the newest events, held in memory and written to `dedup_keys` in one sorted
 * pass every RECENT_KEYS_MAX keys, instead of one B-tree insert per event as it is stored.
 *
 * Why: ids without an order (content-hash ids of OTLP records without log.record.uid, UUID v4)
 * put each new key on a random page of the key index, so a batch of 2,000 events dirtied up to
 * 2,000 index pages, each written to the WAL at the commit and again to the database file at
 * the next checkpoint. In process, with 200,000 keys stored, that made such events cost 20-25
 * µs of store-thread CPU against 11-15 µs for ids that share a prefix (BENCHMARKS "O1, session
 * 8"). One pass over 50,000 keys dirties each index page at most once for all of them.
 *
 * Durability: nothing is lost by holding keys here, because every key held is the key of an
 * event row committed in the same transaction as the event (the row holds its topic and
 * event_id). The store keeps `counters.keys_offset`: every event at or below it has its key in
 * `dedup_keys`; the keys of the events above it are exactly the keys held here. So:
 * - a duplicate check asks this set first, then `dedup_keys`;
 * - a flush inserts the held keys and moves keys_offset to the last offset in one transaction;
 * - at open, the store rebuilds the set from the event rows above keys_offset (a crash loses
 *   only this memory, never a key);
 * - expiry flushes before it moves the retention floor above keys_offset (an expired row can
 *   no longer give its key back), and GET /events/:topic/:event_id asks this set for the
 *   key's offset before it looks in `dedup_keys` (reads.ts get).
 *
 * States: empty -> holding (adds inside an apply transaction) -> empty (flushed). Adds of a
 * transaction that rolls back are undone with `rollback`; `commit` keeps them.
 */

/** Keys held before a flush. ~100 bytes each in memory: ~5 MiB at most. */
export const RECENT_KEYS_MAX = 50_000;

export interface HeldKey {
  /** The 24-byte key (dedup-key.ts) as a latin1 string, one character per byte. */
  readonly name: string;
  readonly offset: number;
  /** first_seen of dedup_keys: unix seconds. */
  readonly seen: number;
}

export class RecentKeys {
  /** name -> offset, in the order added (so in offset order). */
  private readonly offsets = new Map<string, number>();
  /** first_seen by runs: seenFrom[i] is the first offset added with seenAt[i]. */
  private readonly seenFrom: number[] = [];
  private readonly seenAt: number[] = [];
  /** Names added since the last commit or rollback, and the run count before them. */
  private pending: string[] = [];
  private runsBefore = 0;

  get size(): number {
    return this.offsets.size;
  }

  offsetOf(name: string): number | undefined {
    return this.offsets.get(name);
  }

  /** Holds a key; offsets must grow from one add to the next. */
  add(name: string, offset: number, seen: number): void {
    this.offsets.set(name, offset);
    this.pending.push(name);
    if (this.seenAt.at(-1) !== seen) {
      this.seenFrom.push(offset);
      this.seenAt.push(seen);
    }
  }

  /** Keeps the adds since the last commit (their transaction committed). */
  commit(): void {
    this.pending = [];
    this.runsBefore = this.seenAt.length;
  }

  /** Undoes the adds since the last commit (their transaction rolled back). */
  rollback(): void {
    for (const name of this.pending) this.offsets.delete(name);
    this.seenFrom.length = this.runsBefore;
    this.seenAt.length = this.runsBefore;
    this.pending = [];
  }

  /**
   * Every held key, in key order up to ties (what the flush needs: inserts that walk the key
   * index from one end to the other find each page hot after the one before). Sorted as
   * numbers, natively: each key becomes the 53-bit double (its next bits after the prefix all
   * held keys share) * 2^i + its index, with i the bits an index needs; keys equal in those
   * bits keep their add order. Measured on 50,000 keys (BENCHMARKS "O1, session 8"): a string
   * comparator cost ~1.1 us per key, about what ordered inserts save over unordered ones.
   */
  sorted(): HeldKey[] {
    const names = [...this.offsets.keys()];
    const offsets = [...this.offsets.values()];
    const n = names.length;
    const indexBits = Math.max(1, Math.ceil(Math.log2(n + 1)));
    const scale = 2 ** indexBits;
    const cut = 2 ** (56 - (53 - indexBits));
    const shared = sharedPrefix(names);
    const order = new Float64Array(n);
    for (let i = 0; i < n; i++)
      order[i] = Math.floor(bits56(names[i] as string, shared) / cut) * scale + i;
    order.sort();
    const seenOf = this.seenOf();
    const out: HeldKey[] = [];
    for (let k = 0; k < n; k++) {
      const i = (order[k] as number) % scale;
      const offset = offsets[i] as number;
      out.push({ name: names[i] as string, offset, seen: seenOf(offset) });
    }
    return out;
  }

  /** first_seen of a held offset: the run it falls in (binary search over the runs). */
  private seenOf(): (offset: number) => number {
    const from = this.seenFrom;
    const at = this.seenAt;
    return (offset) => {
      let lo = 0;
      let hi = from.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if ((from[mid] as number) <= offset) lo = mid;
        else hi = mid - 1;
      }
      return at[lo] as number;
    };
  }

  /** Forgets every key (they are in dedup_keys now, committed). */
  clear(): void {
    this.offsets.clear();
    this.seenFrom.length = 0;
    this.seenAt.length = 0;
    this.pending = [];
    this.runsBefore = 0;
  }
}

/** The length of the prefix every name shares. */
function sharedPrefix(names: readonly string[]): number {
  const first = names[0] ?? '';
  let shared = first.length;
  for (let i = 1; i < names.length && shared > 0; i++) {
    const name = names[i] as string;
    let j = 0;
    while (j < shared && name.charCodeAt(j) === first.charCodeAt(j)) j++;
    shared = j;
  }
  return shared;
}

/** The 7 characters (bytes) of `name` from `at` as a number, big-endian; 0 past its end. */
function bits56(name: string, at: number): number {
  let v = 0;
  for (let j = 0; j < 7; j++) v = v * 256 + (name.charCodeAt(at + j) || 0);
  return v;
}
