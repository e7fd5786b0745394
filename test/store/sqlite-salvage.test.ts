/**
 * Salvage of a damaged SQLite store (src/adapters/sqlite/salvage.ts), in process: a store
 * with several buckets, expired events, keys on disk and duplicates, then one kind of damage
 * per test. What must hold afterwards: every intact event is kept exactly, at its offset; the
 * events lost are exactly the offsets reported; every key of a kept event and every readable
 * key of an expired one still drops a republish as a duplicate, while a lost event published
 * again is stored again; the counters and per-topic counts come back exact where the rest of
 * the store can tell them; the damaged file is kept; an undamaged store is left untouched.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import Database from '../../src/adapters/sqlite/driver.js';
import {
  readAround,
  salvageStore,
  settleCounts,
  type QueueLogView,
  type StoreSalvageReport,
} from '../../src/adapters/sqlite/salvage.js';
import { openSqliteStore, type SqliteStore } from '../../src/adapters/sqlite/store.js';
import { dedupKeyHash } from '../../src/domain/dedup-key.js';
import type { AcceptedEvent, StoredEvent } from '../../src/domain/event.js';
import { KEEP_FOREVER, type RetentionPolicy } from '../../src/domain/retention.js';
import type { Delivery } from '../../src/ports/queue.js';
import type { ApplyResult, StoreCounters, TopicSummary } from '../../src/ports/store.js';
import { deliver, ev } from '../contract/store.contract.js';
import { makeDataDir, removeDir } from '../helpers/tmp.js';

const T0 = Date.parse('2026-03-01T00:00:00.000Z');
const SECOND = 1_000;
const RETENTION = { maxAgeMs: 10 * SECOND, maxBytes: null, dedupWindowMs: null };

interface Fixture {
  readonly dir: string;
  readonly file: string;
  /** Every unique event applied, oldest first. */
  readonly events: readonly AcceptedEvent[];
  /** Every delivery applied (ids are sequence numbers from 1, as the queue log's). */
  readonly deliveries: readonly Delivery[];
  /** The retained events as the store returned them before the damage. */
  readonly retained: readonly StoredEvent[];
  readonly counters: StoreCounters;
  readonly topics: readonly TopicSummary[];
}

function open(file: string): SqliteStore {
  return openSqliteStore({ file, retention: RETENTION, bucketRows: 300, recentKeys: 100 });
}

/**
 * 2,000 events over 10 simulated seconds in two topics, 20 duplicates a second, buckets of
 * 300 rows, keys flushed every 100, then expiry at 14 s: the first seconds' events expire.
 */
async function fixture(): Promise<Fixture> {
  const dir = await makeDataDir('logsieve-salvage');
  const file = join(dir, 'events.db');
  const store = open(file);
  const events: AcceptedEvent[] = [];
  const deliveries: Delivery[] = [];
  let seq = 0;
  const ids = (): string => String(++seq);
  try {
    for (let s = 0; s < 10; s++) {
      const batch = Array.from({ length: 200 }, (_, i) =>
        ev({
          topic: i % 2 === 0 ? 'a' : 'b',
          payload: `{"s":${s},"i":${i},"pad":"${'x'.repeat(150)}"}`,
        }),
      );
      events.push(...batch);
      const sent = deliver([...batch, ...events.slice(0, 20)], ids);
      deliveries.push(...sent);
      store.applySync(sent, new Date(T0 + s * SECOND));
    }
    for (let i = 0; i < 100 && store.expireSync(new Date(T0 + 14 * SECOND)).more; i++);
    const counters = store.countersNow();
    assert.ok(counters.expired > 0 && counters.stored > 0, JSON.stringify(counters));
    const retained = await store.list({ after: 0, limit: 10_000, order: 'asc' }, 1e9);
    return { dir, file, events, deliveries, retained, counters, topics: await store.topics() };
  } finally {
    await store.close();
  }
}

/** The tables' page size and the page numbers of `name`'s leaves. */
function leaves(file: string, name: string): { size: number; pages: number[] } {
  const db = new Database(file, { readonly: true });
  try {
    const pages = db
      .prepare<[string], number>(
        `SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno`,
      )
      .pluck()
      .all(name);
    return { size: db.pragma('page_size', { simple: true }) as number, pages };
  } finally {
    db.close();
  }
}

/** Zeroes the `nth` leaf page (in page order) of table or index `name`. */
async function zeroLeaf(file: string, name: string, nth: number): Promise<void> {
  const { size, pages } = leaves(file, name);
  const page = pages[nth];
  assert.ok(page !== undefined, `${name} has ${pages.length} leaves`);
  await zeroPage(file, size, page);
}

async function zeroPage(file: string, size: number, page: number): Promise<void> {
  const bytes = await readFile(file);
  bytes.fill(0, (page - 1) * size, page * size);
  await writeFile(file, bytes);
}

/** What the salvaged store holds: its events, counters and topics, and what a republish does. */
async function reopened(
  f: Fixture,
  body: (store: SqliteStore, events: StoredEvent[]) => Promise<void> | void,
): Promise<void> {
  const store = open(f.file);
  try {
    await body(store, await store.list({ after: 0, limit: 10_000, order: 'asc' }, 1e9));
  } finally {
    await store.close();
  }
}

/** The events of `f` a republish of all of them stores again (the rest are duplicates). */
function republish(store: SqliteStore, f: Fixture): Set<string> {
  let seq = f.deliveries.length;
  const result = store.applySync(
    deliver(f.events, () => String(++seq)),
    new Date(T0 + 15 * SECOND),
  );
  return new Set(result.items.filter((i) => i.status === 'stored').map((i) => i.event_id));
}

function lostOffsets(r: StoreSalvageReport): Set<number> {
  const out = new Set<number>();
  for (const [a, b] of r.eventsLost) for (let o = a; o <= b; o++) out.add(o);
  return out;
}

const recordOf = (d: Delivery): { seq: number; topic: string; event_id: string } => ({
  seq: Number(d.id),
  topic: d.event.topic,
  event_id: d.event.event_id,
});

/**
 * A store that `build` fills from `batches(n, size)` (deliveries with ids from 1, as the
 * queue log's), its applied positions zeroed, salvaged with a queue log that still holds
 * every delivery; then the consumer after the restart: every delivery offered again (those
 * applied are skipped). `check` gets the report, what that apply did, and the counters
 * before the damage and after the apply.
 */
async function withAppliedRebuilt(
  retention: RetentionPolicy,
  build: (store: SqliteStore, batches: (n: number, size: number) => Delivery[][]) => void,
  check: (t: {
    report: StoreSalvageReport;
    redo: ApplyResult;
    before: StoreCounters;
    after: StoreCounters;
  }) => void,
): Promise<void> {
  const dir = await makeDataDir('logsieve-salvage');
  try {
    const opts = { file: join(dir, 'events.db'), retention, bucketRows: 300, recentKeys: 100 };
    const store = openSqliteStore(opts);
    const deliveries: Delivery[] = [];
    let seq = 0;
    const batches = (n: number, size: number): Delivery[][] =>
      Array.from({ length: n }, () => {
        const batch = deliver(
          Array.from({ length: size }, () => ev()),
          () => String(++seq),
        );
        deliveries.push(...batch);
        return batch;
      });
    build(store, batches);
    const before = store.countersNow();
    await store.close();
    await zeroLeaf(opts.file, 'applied_ranges', 0);
    const report = await salvageStore(opts.file, new Date(), {
      lost: [],
      records: () => deliveries.map(recordOf),
    });
    const again = openSqliteStore(opts);
    try {
      const redo = again.applySync(deliveries, new Date(T0 + 15 * SECOND));
      check({ report, redo, before, after: again.countersNow() });
    } finally {
      await again.close();
    }
  } finally {
    await removeDir(dir);
  }
}

/** A queue log that still holds every delivery of `f` (its segments not deleted yet). */
function queueOf(f: Fixture): QueueLogView {
  return { lost: [], records: () => f.deliveries.map(recordOf) };
}

function appliedRanges(file: string): [number, number][] {
  const db = new Database(file, { readonly: true });
  try {
    return db
      .prepare<[], [number, number]>('SELECT from_seq, to_seq FROM applied_ranges ORDER BY 1')
      .raw()
      .all();
  } finally {
    db.close();
  }
}

const keyNumber = (e: AcceptedEvent): bigint =>
  BigInt(`0x${dedupKeyHash(e.topic, e.event_id).toString('hex')}`);

void describe('salvage of a damaged SQLite store', () => {
  void it('an undamaged store: nothing is done, the file is untouched', async () => {
    const f = await fixture();
    try {
      const before = await readFile(f.file);
      const report = await salvageStore(f.file, new Date(), null);
      assert.equal(report.damage, null);
      assert.deepEqual(await readFile(f.file), before);
      assert.ok(!existsSync(join(f.dir, 'store-damaged')));
    } finally {
      await removeDir(f.dir);
    }
  });

  void it('a zeroed event leaf: every other event kept exactly; the lost ones reported and stored again when republished', async () => {
    const f = await fixture();
    try {
      await zeroLeaf(f.file, 'events_5', 1);
      const report = await salvageStore(f.file, new Date(), null);
      assert.match(report.damage ?? '', /page/);
      const lost = lostOffsets(report);
      assert.ok(lost.size > 0 && lost.size <= 30, `lost ${[...lost].join(',')}`);
      assert.equal(report.eventsLost.length, 1, 'one page: one run of offsets');
      assert.equal(report.eventsCopied, f.retained.length - lost.size);
      assert.ok(report.movedTo !== null && existsSync(report.movedTo), 'the damaged file is kept');
      assert.ok(!existsSync(`${f.file}-damaged`));
      await reopened(f, (store, events) => {
        assert.deepEqual(
          events,
          f.retained.filter((e) => !lost.has(e.offset)),
        );
        const c = store.countersNow();
        assert.deepEqual(c, {
          ...f.counters,
          stored: f.counters.stored - lost.size,
          expired: f.counters.expired + lost.size,
          stored_bytes: c.stored_bytes,
        });
        const lostIds = new Set(
          f.retained.filter((e) => lost.has(e.offset)).map((e) => e.event_id),
        );
        assert.deepEqual(republish(store, f), lostIds);
      });
    } finally {
      await removeDir(f.dir);
    }
  });

  void it('a zeroed dedup key leaf: the span is reported; only expired events whose keys were in it are stored again', async () => {
    const f = await fixture();
    try {
      const { size, pages } = leaves(f.file, 'dedup_keys');
      assert.ok(pages.length >= 3, `dedup_keys leaves: ${pages.length}`);
      await zeroPage(f.file, size, pages[1] ?? 0);
      const report = await salvageStore(f.file, new Date(), null);
      assert.ok(report.keySpansLost.length > 0);
      assert.deepEqual(report.eventsLost, []);
      assert.ok(report.rebuilt.includes('dedup_keys'));
      const kept = new Set(f.retained.map((e) => e.event_id));
      const inLostSpan = (e: AcceptedEvent): boolean =>
        report.keySpansLost.some((s) => keyNumber(e) >= s.from && keyNumber(e) <= s.to);
      const expected = new Set(
        f.events.filter((e) => !kept.has(e.event_id) && inLostSpan(e)).map((e) => e.event_id),
      );
      assert.ok(expected.size > 0, 'the zeroed leaf held keys of expired events');
      await reopened(f, (store, events) => {
        assert.deepEqual(events, f.retained);
        assert.deepEqual(store.countersNow(), f.counters);
        assert.deepEqual(republish(store, f), expected);
      });
    } finally {
      await removeDir(f.dir);
    }
  });

  void it('zeroed counters and topics: rebuilt exactly from the rows, the keys and the applied positions', async () => {
    const f = await fixture();
    try {
      for (const table of ['counters', 'topics']) await zeroLeaf(f.file, table, 0);
      const report = await salvageStore(f.file, new Date(), null);
      assert.deepEqual([...report.rebuilt].sort(), ['counters', 'topics']);
      await reopened(f, async (store, events) => {
        assert.deepEqual(events, f.retained);
        assert.deepEqual(store.countersNow(), f.counters);
        // Per topic: what is stored is exact; without its row, unique counts what is stored.
        const topics = await store.topics();
        assert.deepEqual(
          topics.map((t) => [t.topic, t.stored, t.unique, t.duplicates]),
          f.topics.map((t) => [t.topic, t.stored, t.stored, 0]),
        );
        assert.deepEqual(republish(store, f), new Set());
      });
    } finally {
      await removeDir(f.dir);
    }
  });

  void it('a changed payload byte recorded by the marker: that row alone is lost', async () => {
    const f = await fixture();
    try {
      const target = f.retained[100];
      assert.ok(target !== undefined);
      // Inside the payload's text, on a page that still parses: only the checksum can tell.
      const bytes = await readFile(f.file);
      const needle = Buffer.from(target.payload, 'utf8');
      const at = bytes.indexOf(needle);
      assert.ok(at >= 0 && bytes.indexOf(needle, at + 1) < 0, 'the payload once in the file');
      bytes.write('y', at + needle.length - 3, 'latin1');
      await writeFile(f.file, bytes);
      const line = `store ${f.file} is damaged at offset ${target.offset} (recorded)`;
      await writeFile(`${f.file}-damaged`, `${line}\n`);
      const report = await salvageStore(f.file, new Date(), null);
      assert.equal(report.damage, line);
      assert.deepEqual(report.eventsLost, [[target.offset, target.offset]]);
      await reopened(f, (_store, events) => {
        assert.deepEqual(
          events,
          f.retained.filter((e) => e.offset !== target.offset),
        );
      });
    } finally {
      await removeDir(f.dir);
    }
  });

  void it('zeroed applied positions, no queue log: every delivery counted is taken as applied', async () => {
    const f = await fixture();
    try {
      await zeroLeaf(f.file, 'applied_ranges', 0);
      const report = await salvageStore(f.file, new Date(), null);
      assert.deepEqual(report.rebuilt, ['applied_ranges']);
      assert.deepEqual(appliedRanges(f.file), [[1, f.deliveries.length]]);
      await reopened(f, (store, events) => {
        assert.deepEqual(events, f.retained);
        assert.deepEqual(store.countersNow(), f.counters);
        const again = store.applySync(f.deliveries, new Date(T0 + 15 * SECOND));
        assert.equal(again.stored + again.duplicates, 0, 'every delivery was applied');
      });
    } finally {
      await removeDir(f.dir);
    }
  });

  void it('zeroed applied positions and events whose keys were only in their rows (a crash): the queue log re-applies the lost ones, the counts come back exact', async () => {
    const f = await fixture();
    try {
      // What a SIGKILL leaves (recent-keys.ts): the keys of the newest events only in their rows.
      const keysUpTo = f.counters.unique_processed - 200;
      const raw = new Database(f.file);
      try {
        raw.prepare('DELETE FROM dedup_keys WHERE "offset" > ?').run(keysUpTo);
        raw.prepare('UPDATE counters SET keys_offset = ?').run(keysUpTo);
      } finally {
        raw.close();
      }
      await zeroLeaf(f.file, 'events_9', 1);
      await zeroLeaf(f.file, 'applied_ranges', 0);
      const report = await salvageStore(f.file, new Date(), queueOf(f));
      const lost = lostOffsets(report);
      assert.ok(lost.size > 0 && [...lost].every((o) => o > keysUpTo), [...lost].join(','));
      await reopened(f, (store) => {
        // The consumer after the restart: the log's records not applied, applied now.
        const redo = store.applySync(f.deliveries, new Date(T0 + 15 * SECOND));
        assert.equal(redo.stored, lost.size, 'each lost event is stored again');
        assert.equal(redo.duplicates, 0, 'no delivery is counted twice');
        assert.deepEqual(store.countersNow(), f.counters);
      });
    } finally {
      await removeDir(f.dir);
    }
  });

  void it('a zeroed schema page: nothing can be salvaged; it says so and changes nothing', async () => {
    const f = await fixture();
    try {
      const { size } = leaves(f.file, 'events');
      await zeroPage(f.file, size, 1);
      const before = await readFile(f.file);
      await assert.rejects(
        salvageStore(f.file, new Date(), null),
        /its schema cannot be read .* restore it from a backup/,
      );
      assert.deepEqual(await readFile(f.file), before);
      assert.ok(!existsSync(`${f.file}.salvaged`) && !existsSync(join(f.dir, 'store-damaged')));
    } finally {
      await removeDir(f.dir);
    }
  });

  void it('zeroed applied positions after DEDUP_WINDOW forgot the keys of expired events: none of those is applied again', async () => {
    const retention = { maxAgeMs: 10 * SECOND, maxBytes: null, dedupWindowMs: 2 * SECOND };
    await withAppliedRebuilt(
      retention,
      (store, batches) => {
        for (const [s, batch] of batches(10, 100).entries()) {
          store.applySync(batch, new Date(T0 + s * SECOND));
        }
        for (let i = 0; i < 100 && store.expireSync(new Date(T0 + 14 * SECOND)).more; i++);
      },
      ({ redo, before, after }) => {
        assert.equal(redo.stored + redo.duplicates, 0, 'every delivery was applied');
        assert.deepEqual(after, before);
      },
    );
  });

  void it('zeroed applied positions after a crash with a later batch committed before an earlier one: the earlier one is applied, no count goes wrong', async () => {
    await withAppliedRebuilt(
      KEEP_FOREVER,
      (store, batches) => {
        // Two workers: the fifth batch was still in flight when the sixth committed.
        for (const [s, batch] of batches(6, 100).entries()) {
          if (s !== 4) store.applySync(batch, new Date(T0 + s * SECOND));
        }
      },
      ({ report, redo, after }) => {
        assert.equal(report.countsOffBy, 0);
        assert.equal(redo.stored, 100, 'the batch in flight is applied');
        assert.equal(redo.duplicates, 0, 'and nothing else');
        assert.deepEqual(
          [after.unique_processed, after.duplicate_dropped, after.stored, after.expired],
          [600, 0, 600, 0],
        );
      },
    );
  });

  void it('zeroed applied positions after a batch failed again at each restart while later ones committed: every acknowledged event is stored', async () => {
    await withAppliedRebuilt(
      KEEP_FOREVER,
      (store, batches) => {
        // Batches of 50; the 7th in flight at a crash, then the 7th and 9th in a lease that
        // never committed across two more crashes while every later one did.
        for (const [b, batch] of batches(13, 50).entries()) {
          if (b !== 6 && b !== 8) store.applySync(batch, new Date(T0 + b * SECOND));
        }
      },
      ({ report, redo, after }) => {
        assert.equal(report.countsOffBy, 0);
        assert.equal(redo.stored, 100, 'the two batches behind are applied');
        assert.equal(redo.duplicates, 0, 'and nothing else');
        assert.deepEqual(
          [after.unique_processed, after.duplicate_dropped, after.stored],
          [650, 0, 650],
        );
      },
    );
  });

  void it('a swap interrupted: the next run finishes it into the same directory, and reports what was lost', async () => {
    const f = await fixture();
    try {
      await zeroLeaf(f.file, 'events_5', 1);
      const first = await salvageStore(f.file, new Date(), null);
      const aside = dirname(first.movedTo ?? '');
      // Back to the state the marker is written in: the copy complete, nothing moved yet.
      await rename(f.file, `${f.file}.salvaged`);
      await rename(join(aside, 'events.db'), f.file);
      const marker = `salvage of ${f.file} in progress (${basename(aside)}): ${first.damage}\n`;
      await writeFile(`${f.file}-damaged`, marker);
      assert.throws(() => open(f.file), /salvage of .* in progress/, 'no start in between');
      const second = await salvageStore(f.file, new Date(), null);
      assert.deepEqual(second, first, 'the report of the run that built the copy');
      assert.ok(existsSync(join(aside, 'events.db')) && !existsSync(`${f.file}.salvaged`));
      assert.ok(!existsSync(`${f.file}-damaged`));
      await reopened(f, (_store, events) => {
        assert.equal(events.length, first.eventsCopied);
      });
      // Interrupted after the rename, before the marker went: only the marker is left to go.
      const before = await readFile(f.file);
      await writeFile(`${f.file}-damaged`, marker);
      assert.deepEqual(await salvageStore(f.file, new Date(), null), first);
      assert.ok(!existsSync(`${f.file}-damaged`));
      assert.deepEqual(await readFile(f.file), before, 'the salvaged store is not salvaged again');
    } finally {
      await removeDir(f.dir);
    }
  });

  void it('zeroed counters and the newest rows, their keys only in the rows: the lost offsets are reported and never given out again', async () => {
    const f = await fixture();
    try {
      const raw = new Database(f.file);
      let lastFirst: number;
      try {
        lastFirst = raw
          .prepare<[], number>('SELECT max(first_offset) FROM buckets')
          .pluck()
          .get() as number;
        // What a SIGKILL leaves (recent-keys.ts): the newest keys only in their rows.
        raw.prepare('DELETE FROM dedup_keys WHERE "offset" >= ?').run(lastFirst);
        raw.prepare('UPDATE counters SET keys_offset = ?').run(lastFirst - 1);
      } finally {
        raw.close();
      }
      const last = f.counters.unique_processed;
      const { size, pages } = leaves(f.file, `events_9`);
      for (const page of [...pages, ...leaves(f.file, 'counters').pages]) {
        await zeroPage(f.file, size, page);
      }
      const report = await salvageStore(f.file, new Date(), null);
      assert.deepEqual(report.eventsLost, [[lastFirst, last]]);
      await reopened(f, (store) => {
        const c = store.countersNow();
        assert.equal(c.unique_processed, last);
        assert.equal(c.stored, f.counters.stored - (last - lastFirst + 1));
        const next = store.applySync(
          deliver([ev({ topic: 'a' })], () => String(f.deliveries.length + 1)),
          new Date(T0 + 15 * SECOND),
        );
        assert.equal(next.items[0]?.offset, last + 1, 'offsets go on after the last one given');
      });
    } finally {
      await removeDir(f.dir);
    }
  });

  void it('zeroed applied positions and a dedup key leaf: no delivery of the queue log is applied twice', async () => {
    const f = await fixture();
    try {
      await zeroLeaf(f.file, 'applied_ranges', 0);
      await zeroLeaf(f.file, 'dedup_keys', 1);
      const report = await salvageStore(f.file, new Date(), queueOf(f));
      assert.ok(report.keySpansLost.length > 0);
      await reopened(f, (store) => {
        const redo = store.applySync(f.deliveries, new Date(T0 + 15 * SECOND));
        assert.equal(redo.stored + redo.duplicates, 0, 'every delivery was applied');
        assert.deepEqual(store.countersNow(), f.counters);
      });
    } finally {
      await removeDir(f.dir);
    }
  });
});

void describe('settleCounts', () => {
  void it('takes deliveries applied again off unique as far as events were lost, then off duplicates', () => {
    const base = { unique: 600, duplicates: 50, stored: 580 };
    // Nothing left out: nothing changes.
    assert.deepEqual(settleCounts({ ...base, applied: 650, lost: 20 }), {
      unique: 600,
      duplicates: 50,
      offBy: 0,
    });
    // 30 left out, 20 of them the lost events (stored again), 10 duplicates counted again.
    assert.deepEqual(settleCounts({ ...base, applied: 620, lost: 20 }), {
      unique: 580,
      duplicates: 40,
      offBy: 0,
    });
    // More taken as applied than counted (positions read past the counted prefix): which
    // delivery was not counted is unknown, so it is reported, not guessed.
    assert.deepEqual(settleCounts({ ...base, applied: 655, lost: 0 }), {
      unique: 600,
      duplicates: 50,
      offBy: -5,
    });
  });

  void it('never puts unique below what is stored: what cannot be settled is reported', () => {
    const settled = settleCounts({
      unique: 600,
      duplicates: 5,
      stored: 590,
      applied: 500,
      lost: 0,
    });
    // 105 left out: 5 off duplicates, 10 off unique (down to what is stored), 90 unsettled.
    assert.deepEqual(settled, { unique: 590, duplicates: 0, offBy: 90 });
    assert.ok(settled.unique >= 590);
  });
});

void describe('readAround', () => {
  void it('reads past damaged regions of an integer key, reporting each as one span', () => {
    const db = new Database(':memory:');
    try {
      db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)');
      const insert = db.prepare('INSERT INTO t VALUES (?, ?)');
      for (let k = 1; k <= 1_000; k++) insert.run(k, `v${k}`);
      // Damage simulated by a function that fails for keys in two regions.
      db.function('damage_at', (k: unknown) => {
        const n = Number(k);
        if ((n >= 100 && n <= 180) || (n >= 600 && n <= 601)) {
          throw Object.assign(new Error('database disk image is malformed'), {
            code: 'SQLITE_CORRUPT',
          });
        }
        return n;
      });
      const seen: number[] = [];
      const lost = readAround(
        db
          .prepare<[number], [number, string]>(
            'SELECT damage_at(k), v FROM t WHERE k >= ? ORDER BY k',
          )
          .raw(),
        {
          max: 2_000n,
          param: (k) => Number(k),
          keyOf: (row) => BigInt(row[0]),
        },
        (row) => seen.push(row[0]) > 0,
      );
      assert.deepEqual(lost, [
        { from: 100n, to: 180n },
        { from: 600n, to: 601n },
      ]);
      assert.equal(seen.length, 1_000 - 81 - 2);
    } finally {
      db.close();
    }
  });
});
