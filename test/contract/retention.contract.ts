/**
 * Retention, one suite run against every store adapter (with the store contract): expiry by
 * age and by bytes removes the oldest events in steps whose counters stay exact, dedup keys
 * outlive their events, offsets are never reused, and DEDUP_WINDOW forgets a key only once
 * it is past the window and its event is gone.
 *
 * Time is passed in (processedAt of each apply, `now` of each expire), so nothing waits.
 * `granularity` is how many offsets expire together in the adapter (1 in SQLite, a partition
 * span in PostgreSQL): a bound may be overshot by that many events, never more, and never
 * by removing an event that should be kept.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StoredEvent } from '../../src/domain/event.js';
import { eventBytes, type RetentionPolicy } from '../../src/domain/retention.js';
import type { Store } from '../../src/ports/store.js';
import { deliver, ev, type OpenedStore, type StoreOpener } from './store.contract.js';

const T0 = new Date('2026-03-01T00:00:00.000Z');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const at = (ms: number): Date => new Date(T0.getTime() + ms);

const policy = (p: Partial<RetentionPolicy>): RetentionPolicy => ({
  maxAgeMs: null,
  maxBytes: null,
  dedupWindowMs: null,
  ...p,
});

async function withRetention(
  open: StoreOpener,
  retention: RetentionPolicy,
  body: (store: Store, opened: OpenedStore) => Promise<void>,
): Promise<void> {
  const opened = await open({ retention });
  try {
    await body(opened.store, opened);
  } finally {
    await opened.cleanup();
  }
}

/** Runs expiry steps at `now` until the store says nothing more is due (bounded). */
async function expireAll(store: Store, now: Date): Promise<number> {
  let total = 0;
  for (let i = 0; i < 1_000; i++) {
    const step = await store.expire(now);
    total += step.expired;
    if (!step.more) return total;
  }
  throw new Error('expiry never settled');
}

async function allRows(store: Store): Promise<StoredEvent[]> {
  return store.list({ after: 0, limit: 10_000, order: 'asc' });
}

/** The invariants that hold after any expiry: exact counters that match the rows. */
async function assertExact(store: Store): Promise<StoredEvent[]> {
  const c = await store.counters();
  const rows = await allRows(store);
  assert.equal(c.stored, rows.length, 'stored = the rows list returns');
  assert.equal(c.unique_processed, c.stored + c.expired, 'unique_processed = stored + expired');
  assert.equal(
    c.stored_bytes,
    rows.reduce((sum, r) => sum + eventBytes(r), 0),
    'stored_bytes',
  );
  const perTopic = new Map<string, number>();
  for (const r of rows) perTopic.set(r.topic, (perTopic.get(r.topic) ?? 0) + 1);
  for (const t of await store.topics()) {
    assert.equal(t.stored, perTopic.get(t.topic) ?? 0, `topic ${t.topic} stored`);
  }
  return rows;
}

/** Applies `n` events at `when` in batches of 10; returns their offsets. */
async function applyAt(store: Store, n: number, when: Date, topic = 'orders'): Promise<number[]> {
  const offsets: number[] = [];
  for (let i = 0; i < n; i += 10) {
    const batch = Array.from({ length: Math.min(10, n - i) }, () => ev({ topic }));
    const r = await store.apply(deliver(batch), when);
    for (const item of r.items) offsets.push(item.offset ?? -1);
  }
  return offsets;
}

export function runRetentionContract(name: string, open: StoreOpener): void {
  void describe(`Retention contract: ${name}`, () => {
    void it('expiry by age removes the oldest events, keeps every newer one, and the counters stay exact', async () => {
      await withRetention(open, policy({ maxAgeMs: 10 * MINUTE }), async (store, opened) => {
        const old = await applyAt(store, 30, T0, 'a');
        const fresh = [
          ...(await applyAt(store, 3, at(HOUR), 'b')),
          ...(await applyAt(store, 2, at(HOUR), 'a')),
        ];
        const expired = await expireAll(store, at(HOUR));
        assert.ok(
          expired >= old.length - opened.granularity,
          `only ${expired} of ${old.length} expired`,
        );
        assert.ok(expired <= old.length, 'a newer event expired');
        const rows = await assertExact(store);
        const kept = new Set(rows.map((r) => r.offset));
        for (const o of fresh) assert.ok(kept.has(o), `newer event ${o} was removed`);
        // A prefix of the offsets went: everything retained is above everything expired.
        const gone = old.filter((o) => !kept.has(o));
        assert.equal(gone.length, expired);
        assert.ok(Math.max(...gone) < Math.min(...rows.map((r) => r.offset)));
        assert.equal((await store.counters()).expired, expired);
      });
    });

    void it('an expired event is gone from get and list, a cursor below the floor continues at the oldest retained, and a re-send is still a duplicate of its old offset', async () => {
      await withRetention(open, policy({ maxAgeMs: 10 * MINUTE }), async (store) => {
        const first = ev({ topic: 'keys' });
        const r1 = await store.apply(deliver([first]), T0);
        const firstOffset = r1.items[0]?.offset ?? -1;
        await applyAt(store, 200, T0, 'keys');
        await applyAt(store, 5, at(HOUR), 'keys');
        await expireAll(store, at(HOUR));
        await assertExact(store);
        assert.equal(
          await store.get(first.topic, first.event_id),
          null,
          'expired event still served',
        );
        const rows = await allRows(store);
        const floor = rows[0]?.offset ?? -1;
        assert.ok(floor > firstOffset);
        const page = await store.list({ after: firstOffset - 1, limit: 3, order: 'asc' });
        assert.equal(
          page[0]?.offset,
          floor,
          'a cursor below the floor continues from the oldest retained',
        );
        // Dedup outlives retention.
        const before = await store.counters();
        const again = await store.apply(
          deliver([{ ...first, payload: '{"resent":true}' }]),
          at(HOUR),
        );
        assert.equal(again.items[0]?.status, 'duplicate');
        assert.equal(again.items[0]?.offset, firstOffset, 'the duplicate names the expired offset');
        const after = await store.counters();
        assert.equal(after.duplicate_dropped, before.duplicate_dropped + 1);
        assert.equal(after.stored, before.stored);
        assert.equal(await store.get(first.topic, first.event_id), null);
      });
    });

    void it('expiry by bytes removes the oldest events while the stored events exceed the bound', async () => {
      // Every event of this test has the same size, so the bound is a count of events.
      const sized = () =>
        ev({
          topic: 'bytes',
          event_id: `b-${Math.random().toString(36).slice(2, 10)}`,
          payload: '{"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}',
        });
      const one = eventBytes(sized());
      const bound = one * 20;
      await withRetention(open, policy({ maxBytes: bound }), async (store, opened) => {
        const offsets: number[] = [];
        for (let b = 0; b < 6; b++) {
          const r = await store.apply(deliver(Array.from({ length: 10 }, sized)), at(b * MINUTE));
          offsets.push(...r.items.map((i) => i.offset ?? -1));
          await expireAll(store, at(b * MINUTE));
        }
        const rows = await assertExact(store);
        const c = await store.counters();
        assert.ok(
          c.stored_bytes <= bound + one * opened.granularity,
          `${c.stored_bytes} > ${bound}`,
        );
        // Never below the bound by more than the granularity: nothing that fits was removed.
        assert.ok(
          c.stored_bytes > bound - one * opened.granularity - one * 10,
          `removed too much: ${c.stored_bytes}`,
        );
        // The retained ones are the newest.
        assert.deepEqual(
          rows.map((r) => r.offset),
          offsets.slice(offsets.length - rows.length),
        );
      });
    });

    void it('offsets are never reused, even when every stored event expired', async () => {
      await withRetention(open, policy({ maxAgeMs: MINUTE }), async (store) => {
        const old = await applyAt(store, 25, T0);
        await expireAll(store, at(HOUR));
        const next = await applyAt(store, 5, at(HOUR));
        assert.ok(Math.min(...next) > Math.max(...old), 'an offset was reused');
        await assertExact(store);
      });
    });

    void it('DEDUP_WINDOW forgets a key only once it is past the window and its event is gone', async () => {
      await withRetention(
        open,
        policy({ maxAgeMs: 10 * MINUTE, dedupWindowMs: HOUR }),
        async (store) => {
          const early = Array.from({ length: 30 }, () => ev({ topic: 'win' }));
          await store.apply(deliver(early), T0);
          await applyAt(store, 5, at(3 * HOUR), 'win');
          // Inside the window: the events expired, their keys are kept.
          await expireAll(store, at(30 * MINUTE));
          const inside = await store.apply(deliver([early[0] ?? ev()]), at(30 * MINUTE));
          assert.equal(
            inside.items[0]?.status,
            'duplicate',
            'a key inside the window was forgotten',
          );
          // Past the window: the keys of expired events go; a re-send is new again.
          await expireAll(store, at(3 * HOUR));
          const gone = [];
          for (const e of early) if ((await store.get(e.topic, e.event_id)) === null) gone.push(e);
          assert.ok(gone.length > 0);
          const r = await store.apply(deliver(gone), at(3 * HOUR));
          assert.ok(
            r.items.every((i) => i.status === 'stored'),
            'a key past the window was kept',
          );
          await assertExact(store);
        },
      );
    });

    void it('DEDUP_WINDOW never forgets the key of a retained event', async () => {
      await withRetention(open, policy({ dedupWindowMs: MINUTE }), async (store) => {
        const e = ev({ topic: 'kept' });
        await store.apply(deliver([e]), T0);
        await expireAll(store, at(HOUR));
        const again = await store.apply(deliver([e]), at(HOUR));
        assert.equal(again.items[0]?.status, 'duplicate');
        await assertExact(store);
      });
    });
  });
}
