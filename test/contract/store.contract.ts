/**
 * The Store port contract (src/ports/store.ts), one suite run unchanged against every store
 * adapter. An adapter's test file calls `runStoreContract(name, open)`; `open` gives a fresh,
 * empty store on its own storage each time.
 *
 * Delivery ids are opaque to the suite: each opener supplies fresh ids in the shape its
 * store really receives from its queue (log sequence numbers for SQLite, Redis stream ids
 * for PostgreSQL), and the suite only ever passes them in and compares them for equality.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dedupKey, type AcceptedEvent } from '../../src/domain/event.js';
import { eventBytes, type RetentionPolicy } from '../../src/domain/retention.js';
import type { Delivery } from '../../src/ports/queue.js';
import type { AppliedItem, ApplyResult, Store } from '../../src/ports/store.js';
import { deepestValidEvent, payloadOfBytes, validEvents } from '../helpers/hostile.js';

export interface OpenedStore {
  readonly store: Store;
  /**
   * A delivery id never given out before for this store, shaped as the queue this store is
   * paired with makes them (the order of calls is the order the queue would hand them out).
   */
  readonly nextDeliveryId: () => string;
  /**
   * Offsets that expire together (1: row by row, SQLite; a partition span: PostgreSQL).
   * Retention tests allow this many events of slack around a bound.
   */
  readonly granularity: number;
  /** Closes the store and deletes its storage. */
  cleanup(): Promise<void>;
}

export interface OpenOptions {
  readonly retention?: RetentionPolicy;
}

export type StoreOpener = (opts?: OpenOptions) => Promise<OpenedStore>;

const AT = new Date('2026-01-02T03:04:05.678Z');

let counter = 0;
export function ev(over: Partial<AcceptedEvent> = {}): AcceptedEvent {
  counter++;
  return {
    topic: 'orders',
    event_id: `id-${counter}`,
    timestamp: '2025-10-24T00:00:00.000Z',
    source: 'checkout-svc',
    payload: `{"n":${counter}}`,
    ...over,
  };
}

let deliverySeq = 0;
/** Fresh delivery ids as log sequence numbers ("1", "2", ...): the embedded queue's shape. */
export const sequenceIds = (): string => String(++deliverySeq);

let streamMs = 1_700_000_000_000;
let streamSeq = 0;
/**
 * Fresh delivery ids as Redis stream ids ("ms-seq", ascending): the cluster queue's shape,
 * with several entries per millisecond as under load.
 */
export function streamIds(): string {
  if (++streamSeq > 3) {
    streamMs += 1 + (streamSeq % 5);
    streamSeq = 0;
  }
  return `${streamMs}-${streamSeq}`;
}

/** New deliveries (fresh ids from `ids`) of the given events. */
export function deliver(
  events: readonly AcceptedEvent[],
  ids: () => string = sequenceIds,
): Delivery[] {
  return events.map((event) => ({ id: ids(), event }));
}

interface StoreUnderTest {
  readonly store: Store;
  /** deliver() with this store's delivery ids. */
  readonly deliver: (events: readonly AcceptedEvent[]) => Delivery[];
}

async function withStore(
  open: StoreOpener,
  body: (s: StoreUnderTest) => Promise<void>,
): Promise<void> {
  const opened = await open({});
  try {
    await body({
      store: opened.store,
      deliver: (events) => deliver(events, opened.nextDeliveryId),
    });
  } finally {
    await opened.cleanup();
  }
}

/**
 * The counters are the given lifetime ones, nothing expired, and `stored` / `stored_bytes`
 * match exactly what `list` returns.
 */
export async function assertCounters(
  store: Store,
  expected: { unique_processed: number; duplicate_dropped: number; expired?: number },
): Promise<void> {
  const c = await store.counters();
  const rows = await store.list({ after: 0, limit: 10_000, order: 'asc' });
  assert.deepEqual(
    { unique_processed: c.unique_processed, duplicate_dropped: c.duplicate_dropped },
    { unique_processed: expected.unique_processed, duplicate_dropped: expected.duplicate_dropped },
  );
  assert.equal(c.expired, expected.expired ?? 0, 'expired');
  assert.equal(c.stored, rows.length, 'stored = the rows list returns');
  assert.equal(c.unique_processed, c.stored + c.expired, 'unique_processed = stored + expired');
  assert.equal(
    c.stored_bytes,
    rows.reduce((sum, r) => sum + eventBytes(r), 0),
    'stored_bytes = the bytes of those rows',
  );
}

const offsetsOf = (r: ApplyResult): (number | null)[] => r.items.map((i) => i.offset);
const statusesOf = (r: ApplyResult): string[] => r.items.map((i) => i.status);

function assertIncreasing(values: readonly (number | null)[]): void {
  for (let i = 1; i < values.length; i++) {
    assert.ok(
      (values[i] ?? -1) > (values[i - 1] ?? Infinity),
      `offsets not increasing: ${values.join(',')}`,
    );
  }
}

export function runStoreContract(name: string, open: StoreOpener): void {
  void describe(`Store contract: ${name}`, () => {
    void it('starts empty with zero counters', async () => {
      await withStore(open, async ({ store }) => {
        await assertCounters(store, { unique_processed: 0, duplicate_dropped: 0 });
        assert.deepEqual(await store.topics(), []);
        assert.deepEqual(await store.list({ after: 0, limit: 10, order: 'asc' }), []);
      });
    });

    void it('stores new events with strictly increasing offsets in input order', async () => {
      await withStore(open, async ({ store, deliver }) => {
        const batch = deliver([ev(), ev(), ev({ topic: 'login' }), ev()]);
        const r = await store.apply(batch, AT);
        assert.deepEqual(statusesOf(r), ['stored', 'stored', 'stored', 'stored']);
        assert.equal(r.stored, 4);
        assert.equal(r.duplicates, 0);
        assertIncreasing(offsetsOf(r));
        assert.deepEqual(
          r.items.map((i) => [i.delivery, i.topic, i.event_id]),
          batch.map((d) => [d.id, d.event.topic, d.event.event_id]),
        );
        await assertCounters(store, { unique_processed: 4, duplicate_dropped: 0 });
      });
    });

    void it('first stored wins: a later copy with another payload is a duplicate carrying the earlier offset', async () => {
      await withStore(open, async ({ store, deliver }) => {
        const first = ev({ payload: '{"v":"first"}' });
        const r1 = await store.apply(deliver([first]), AT);
        const r2 = await store.apply(deliver([{ ...first, payload: '{"v":"second"}' }, ev()]), AT);
        assert.deepEqual(statusesOf(r2), ['duplicate', 'stored']);
        assert.equal(r2.items[0]?.offset, r1.items[0]?.offset);
        assert.equal(r2.stored, 1);
        assert.equal(r2.duplicates, 1);
        assert.equal((await store.get(first.topic, first.event_id))?.payload, '{"v":"first"}');
        await assertCounters(store, { unique_processed: 2, duplicate_dropped: 1 });
        assert.equal((await store.list({ after: 0, limit: 100, order: 'asc' })).length, 2);
      });
    });

    void it('copies inside one batch: the first is stored, the others are duplicates of it', async () => {
      await withStore(open, async ({ store, deliver }) => {
        const e = ev();
        const r = await store.apply(deliver([e, ev(), { ...e, payload: '{"other":1}' }, e]), AT);
        assert.deepEqual(statusesOf(r), ['stored', 'stored', 'duplicate', 'duplicate']);
        assert.equal(r.items[2]?.offset, r.items[0]?.offset);
        assert.equal(r.items[3]?.offset, r.items[0]?.offset);
        assert.equal((await store.get(e.topic, e.event_id))?.payload, e.payload);
        await assertCounters(store, { unique_processed: 2, duplicate_dropped: 2 });
      });
    });

    void it('the same event_id in two topics is two events', async () => {
      await withStore(open, async ({ store, deliver }) => {
        const r = await store.apply(
          deliver([ev({ topic: 'a', event_id: 'same' }), ev({ topic: 'b', event_id: 'same' })]),
          AT,
        );
        assert.deepEqual(statusesOf(r), ['stored', 'stored']);
        assert.notEqual(r.items[0]?.offset, r.items[1]?.offset);
        assert.equal((await store.get('a', 'same'))?.topic, 'a');
        assert.equal((await store.get('b', 'same'))?.topic, 'b');
      });
    });

    void it('a delivery applied again is redelivered and changes nothing; new deliveries in the same batch still count', async () => {
      await withStore(open, async ({ store, deliver }) => {
        const batch = deliver([ev(), ev(), ev()]);
        await store.apply(batch, AT);
        const before = await store.counters();
        const again = await store.apply(batch, AT);
        assert.deepEqual(statusesOf(again), ['redelivered', 'redelivered', 'redelivered']);
        assert.deepEqual(offsetsOf(again), [null, null, null]);
        assert.equal(again.stored, 0);
        assert.equal(again.duplicates, 0);
        assert.deepEqual(await store.counters(), before);
        // Mixed: an old delivery, a new copy of a stored key (a true duplicate), a new event.
        const [old] = batch;
        assert.ok(old !== undefined);
        const mixed = [old, ...deliver([old.event, ev()])];
        const r = await store.apply(mixed, AT);
        assert.deepEqual(statusesOf(r), ['redelivered', 'duplicate', 'stored']);
        await assertCounters(store, { unique_processed: 4, duplicate_dropped: 1 });
        assert.equal((await store.list({ after: 0, limit: 100, order: 'asc' })).length, 4);
      });
    });

    void it('concurrent applies racing on the same key store it once', async () => {
      await withStore(open, async ({ store, deliver }) => {
        const e = ev();
        const results = await Promise.all(
          Array.from({ length: 8 }, () => store.apply(deliver([e]), AT)),
        );
        const statuses = results.flatMap(statusesOf).sort();
        assert.deepEqual(statuses, [...Array<string>(7).fill('duplicate'), 'stored']);
        const offsets = new Set(results.flatMap(offsetsOf));
        assert.equal(offsets.size, 1);
        await assertCounters(store, { unique_processed: 1, duplicate_dropped: 7 });
      });
    });

    void it('offsets keep increasing across batches and paging with after returns every event once', async () => {
      await withStore(open, async ({ store, deliver }) => {
        const all: (number | null)[] = [];
        for (let b = 0; b < 5; b++) {
          const r = await store.apply(deliver(Array.from({ length: 7 }, () => ev())), AT);
          all.push(...offsetsOf(r));
        }
        assertIncreasing(all);
        const paged: number[] = [];
        let after = 0;
        for (;;) {
          const page = await store.list({ after, limit: 4, order: 'asc' });
          if (page.length === 0) break;
          assert.ok(page.length <= 4);
          paged.push(...page.map((e) => e.offset));
          after = page.at(-1)?.offset ?? after;
        }
        assert.deepEqual(paged, all);
      });
    });

    void it('list filters by topic and source, honours limit, after, before and descending order', async () => {
      await withStore(open, async ({ store, deliver }) => {
        const r = await store.apply(
          deliver([
            ev({ topic: 'login', source: 's1' }),
            ev({ topic: 'order', source: 's1' }),
            ev({ topic: 'login', source: 's2' }),
            ev({ topic: 'login', source: 's1' }),
            ev({ topic: 'order', source: 's2' }),
          ]),
          AT,
        );
        const off = offsetsOf(r) as number[];
        const list = async (q: {
          topic?: string;
          source?: string;
          after?: number;
          before?: number;
          limit?: number;
          order?: 'asc' | 'desc';
        }): Promise<number[]> =>
          (await store.list({ after: 0, limit: 100, order: 'asc', ...q })).map((e) => e.offset);
        assert.deepEqual(await list({ topic: 'login' }), [off[0], off[2], off[3]]);
        assert.deepEqual(await list({ source: 's2' }), [off[2], off[4]]);
        assert.deepEqual(await list({ topic: 'login', source: 's1' }), [off[0], off[3]]);
        assert.deepEqual(await list({ topic: 'nope' }), []);
        assert.deepEqual(await list({ limit: 2 }), [off[0], off[1]]);
        assert.deepEqual(await list({ after: off[1] }), [off[2], off[3], off[4]]);
        assert.deepEqual(await list({ order: 'desc' }), [...off].reverse());
        assert.deepEqual(await list({ order: 'desc', limit: 2 }), [off[4], off[3]]);
        assert.deepEqual(await list({ order: 'desc', topic: 'order' }), [off[4], off[1]]);
        // Paging backwards: each page continues below the last offset it returned.
        assert.deepEqual(await list({ order: 'desc', limit: 2, before: off[3] }), [off[2], off[1]]);
        assert.deepEqual(await list({ order: 'desc', before: off[1] }), [off[0]]);
        assert.deepEqual(await list({ after: off[0], before: off[3] }), [off[1], off[2]]);
      });
    });

    void it('an event round-trips exactly: unicode, nested payload text, fine timestamp, processed_at', async () => {
      await withStore(open, async ({ store, deliver }) => {
        const e = ev({
          topic: 'app/prod:api.v1',
          event_id: 'ünï-😀-"quoted"\\',
          timestamp: '2025-10-24T00:00:00.123456789Z',
          source: 'sørvice – ☃',
          // Key order, spacing-free text and escapes must survive (jsonb would reorder keys).
          payload:
            '{"z":1,"a":{"deep":[1,{"x":"line\\nbreak \\u0000 😀"}],"n":null},"é":"\\ud800","big":12345678901234567890}',
        });
        const r = await store.apply(deliver([e]), AT);
        const got = await store.get(e.topic, e.event_id);
        assert.deepEqual(got, {
          ...e,
          offset: r.items[0]?.offset,
          processed_at: AT.toISOString(),
        });
        const [listed] = await store.list({ topic: e.topic, after: 0, limit: 10, order: 'asc' });
        assert.deepEqual(listed, got);
        assert.equal(await store.get(e.topic, 'missing'), null);
        assert.equal(await store.get('missing', e.event_id), null);
      });
    });

    void it('topics() reports per-topic unique, duplicates, last offset and last processed time', async () => {
      await withStore(open, async ({ store, deliver }) => {
        const a = ev({ topic: 'alpha' });
        const r1 = await store.apply(
          deliver([a, ev({ topic: 'beta' }), ev({ topic: 'alpha' })]),
          AT,
        );
        const later = new Date(AT.getTime() + 60_000);
        await store.apply(deliver([a, a]), later);
        const topics = await store.topics();
        assert.deepEqual(topics, [
          {
            topic: 'alpha',
            unique: 2,
            duplicates: 2,
            stored: 2,
            last_offset: r1.items[2]?.offset,
            last_processed_at: AT.toISOString(),
          },
          {
            topic: 'beta',
            unique: 1,
            duplicates: 0,
            stored: 1,
            last_offset: r1.items[1]?.offset,
            last_processed_at: AT.toISOString(),
          },
        ]);
        await assertCounters(store, { unique_processed: 3, duplicate_dropped: 2 });
      });
    });

    void it('paging never skips: a reader paging with after while writers apply concurrently sees every event once, in offset order', async () => {
      await withStore(open, async ({ store, deliver }) => {
        const WRITERS = 6;
        const BATCHES = 12;
        const BATCH = 25;
        let writing = true;
        const written: number[] = [];
        const writers = Array.from({ length: WRITERS }, async () => {
          for (let b = 0; b < BATCHES; b++) {
            const r = await store.apply(deliver(Array.from({ length: BATCH }, () => ev())), AT);
            for (const item of r.items) if (item.offset !== null) written.push(item.offset);
          }
        });
        const seen: number[] = [];
        const read = (async () => {
          let after = 0;
          for (;;) {
            const done = !writing;
            const page = await store.list({ after, limit: 37, order: 'asc' });
            for (const e of page) seen.push(e.offset);
            after = page.at(-1)?.offset ?? after;
            // Stop only after a pass that started once every writer had finished came up empty.
            if (done && page.length === 0) return;
          }
        })();
        await Promise.all(writers);
        writing = false;
        await read;
        const total = WRITERS * BATCHES * BATCH;
        assert.equal(written.length, total);
        assert.equal(seen.length, total, `the reader saw ${seen.length} of ${total}`);
        assert.deepEqual(
          seen,
          [...written].sort((x, y) => x - y),
        );
        await assertCounters(store, { unique_processed: total, duplicate_dropped: 0 });
      });
    });

    void it('hostile events the validator accepts round-trip exactly (separators, unicode, longest names, deepest and largest payloads)', async () => {
      await withStore(open, async ({ store, deliver }) => {
        const events = [
          ...validEvents(0x5eed, 240),
          deepestValidEvent(),
          { ...ev(), payload: payloadOfBytes(64 * 1024) },
        ];
        const items: AppliedItem[] = [];
        for (let i = 0; i < events.length; i += 60) {
          items.push(...(await store.apply(deliver(events.slice(i, i + 60)), AT)).items);
        }
        // Random names can repeat a key: the first copy is the one stored.
        const first = new Map<string, AcceptedEvent>();
        for (const e of events)
          if (!first.has(dedupKey(e.topic, e.event_id)))
            first.set(dedupKey(e.topic, e.event_id), e);
        assert.equal(items.filter((i) => i.status === 'stored').length, first.size);
        const rows = await store.list({ after: 0, limit: 10_000, order: 'asc' });
        assert.equal(rows.length, first.size);
        for (const row of rows) {
          const e = first.get(dedupKey(row.topic, row.event_id));
          assert.ok(e !== undefined, `row ${row.offset} is one of the events`);
          assert.deepEqual(row, { ...e, offset: row.offset, processed_at: AT.toISOString() });
          assert.deepEqual(await store.get(e.topic, e.event_id), row);
        }
      });
    });

    void it('a page stops at the byte cap before its limit, says so, and resumes without gap', async () => {
      await withStore(open, async ({ store, deliver }) => {
        const big = 'x'.repeat(10 * 1024);
        const sent = Array.from({ length: 40 }, (_, i) =>
          ev({ topic: 'big', payload: `{"i":${i},"pad":"${big}"}` }),
        );
        await store.apply(deliver(sent), AT);
        const cap = 100 * 1024;
        const first = await store.page({ after: 0, limit: 40, order: 'asc' }, cap, 'json');
        assert.ok(first.truncated, 'a 400 KiB page under a 100 KiB cap is truncated');
        assert.ok(first.count >= 1 && first.count < 40, `count ${first.count}`);
        assert.ok(first.body.byteLength <= cap, `page of ${first.body.byteLength} bytes`);
        const rows = JSON.parse(Buffer.from(first.body).toString('utf8')) as { offset: number }[];
        assert.equal(rows.length, first.count);
        assert.equal(rows.at(-1)?.offset, first.lastOffset);
        // Paging on from lastOffset returns every event once, in order.
        const seen: number[] = [];
        let after = 0;
        for (let i = 0; i < 100; i++) {
          const page = await store.page({ after, limit: 40, order: 'asc' }, cap, 'sse');
          if (page.lastOffset === null) break;
          const text = Buffer.from(page.body).toString('utf8');
          const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
          assert.equal(ids.length, page.count);
          seen.push(...ids);
          after = page.lastOffset;
        }
        const all = await store.list({ after: 0, limit: 40, order: 'asc' });
        assert.deepEqual(
          seen,
          all.map((r) => r.offset),
        );
        assert.equal(seen.length, 40);
        const bounded = await store.list({ after: 0, limit: 40, order: 'asc' }, cap);
        assert.ok(bounded.length >= 1 && bounded.length < 40, 'list() is bounded too');
      });
    });

    void it('a page holds at least one event, however small the cap', async () => {
      await withStore(open, async ({ store, deliver }) => {
        await store.apply(deliver([ev({ payload: `{"pad":"${'y'.repeat(5000)}"}` }), ev()]), AT);
        const page = await store.page({ after: 0, limit: 10, order: 'desc' }, 10, 'json');
        assert.equal(page.count, 1);
        assert.ok(page.truncated);
        const untruncated = await store.page(
          { after: 0, limit: 10, order: 'asc' },
          1 << 20,
          'json',
        );
        assert.equal(untruncated.count, 2);
        assert.equal(untruncated.truncated, false);
      });
    });

    void it('pages topics by name with after and limit, and counts them', async () => {
      await withStore(open, async ({ store, deliver }) => {
        const names = Array.from({ length: 23 }, (_, i) => `t${String(i).padStart(2, '0')}`);
        await store.apply(deliver(names.map((topic) => ev({ topic }))), AT);
        const paged: string[] = [];
        let after: string | undefined;
        for (let i = 0; i < 10; i++) {
          const page = await store.topics({ limit: 5, after });
          paged.push(...page.map((t) => t.topic));
          if (page.length < 5) break;
          after = page.at(-1)?.topic;
        }
        assert.deepEqual(paged, names);
        assert.equal(await store.topicCount(), 23);
      });
    });
  });
}
