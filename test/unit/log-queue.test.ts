/**
 * The embedded queue log on its own, with tiny segments so rotation, segment deletion and
 * recovery after a crash (including a torn last line) are exercised.
 */
import assert from 'node:assert/strict';
import { appendFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { openLogQueue, type LogQueue } from '../../src/adapters/log/queue.js';
import type { AppError } from '../../src/domain/errors.js';
import type { AcceptedEvent } from '../../src/domain/event.js';
import type { Lease } from '../../src/ports/queue.js';
import { makeDataDir, removeDir, sleep } from '../helpers/tmp.js';
import { frame, logEvent as ev } from '../helpers/log-queue.js';

const log = pino({ level: 'silent' });

const range = (from: number, n: number): AcceptedEvent[] =>
  Array.from({ length: n }, (_, k) => ev(from + k));

/** One test's own queue directory and applied-set, so every test can run alone. */
interface Fixture {
  dir: string;
  applied: Set<number>;
  open: () => Promise<LogQueue>;
  /** Takes everything queued (bounded), marking it applied before the ack like the store. */
  drain: (q: LogQueue, ackIt?: boolean) => Promise<string[]>;
  segments: () => Promise<string[]>;
}

async function withFixture(body: (f: Fixture) => Promise<void>): Promise<void> {
  const dir = await makeDataDir('logsieve-queue');
  const applied = new Set<number>();
  const f: Fixture = {
    dir,
    applied,
    open: () =>
      openLogQueue({
        dir,
        queueMax: 10_000,
        log,
        isApplied: (seq) => applied.has(seq),
        minNextSeq: Math.max(0, ...applied) + 1,
        segmentBytes: 400,
      }),
    drain: async (q, ackIt = true) => {
      const ids: string[] = [];
      const want = q.statsNow().depth;
      for (let i = 0; i < 1_000 && ids.length < want; i++) {
        const lease: Lease | null = await q.take(7);
        if (lease === null) break;
        for (const d of lease.deliveries) {
          ids.push(d.id);
          if (ackIt) applied.add(Number(d.id));
        }
        if (ackIt) await q.ack(lease);
      }
      return ids;
    },
    segments: async () => (await readdir(dir)).filter((n) => n.endsWith('.log')).sort(),
  };
  try {
    await body(f);
  } finally {
    await removeDir(dir);
  }
}

/** The sequence number an id names; ids of the embedded queue are decimal sequence numbers. */
const seqOf = (id: string | undefined): number => Number(id);

void describe('embedded queue log', () => {
  void it('rotates into several segments and hands out every event once, in order', () =>
    withFixture(async ({ open, drain, segments }) => {
      const q = await open();
      const enqueued: string[] = [];
      for (let b = 0; b < 5; b++) {
        const ids = await q.enqueue(range(b * 6, 6));
        assert.equal(ids.length, 6);
        enqueued.push(...ids);
      }
      assert.deepEqual(q.statsNow(), { received: 30, depth: 30 });
      assert.equal(new Set(enqueued).size, 30, 'every event gets its own id');
      assert.ok((await segments()).length > 2, 'small segments rotate');
      assert.deepEqual(await drain(q), enqueued);
      assert.deepEqual(q.statsNow(), { received: 30, depth: 0 });
      await q.close();
    }));

  void it('deletes fully applied segments, keeping the active one', () =>
    withFixture(async ({ open, drain, segments }) => {
      const first = await open();
      for (let b = 0; b < 5; b++) await first.enqueue(range(b * 6, 6));
      assert.ok((await segments()).length > 2, 'small segments rotate');
      assert.equal((await drain(first)).length, 30);
      await first.close();

      const q = await open();
      for (let i = 0; i < 100 && (await segments()).length > 1; i++) await sleep(10);
      assert.equal((await segments()).length, 1);
      assert.deepEqual(q.statsNow(), { received: 30, depth: 0 }, 'received survives deletion');
      await q.close();
    }));

  void it('re-delivers unapplied events after a crash, skipping applied ones', () =>
    withFixture(async ({ open, drain, applied }) => {
      const q = await open();
      const ids = await q.enqueue(range(100, 10));
      const taken = await drain(q, false);
      assert.deepEqual(taken, ids);
      // Pretend the store committed the first five before the crash; the ack never happened.
      for (const id of ids.slice(0, 5)) applied.add(seqOf(id));
      await q.close();

      const again = await open();
      assert.deepEqual(again.statsNow(), { received: 10, depth: 5 });
      assert.deepEqual(await drain(again), ids.slice(5));
      const last = seqOf(ids.at(-1));
      const more = await again.enqueue(range(200, 2));
      assert.deepEqual(
        more,
        [String(last + 1), String(last + 2)],
        'sequence numbers are never reused',
      );
      await drain(again);
      await again.close();
    }));

  void it('truncates a torn last write and keeps every complete record', () =>
    withFixture(async ({ dir, open, drain, segments }) => {
      const q = await open();
      const ids = await q.enqueue(range(300, 3));
      await q.close();
      const next = seqOf(ids.at(-1)) + 1;
      const last = (await segments()).at(-1) ?? '';
      // The last write reached the disk only in part: its frame runs past the end of the file.
      const torn = frame(`[${next},"t","e-torn","2025-10-24T00:00:00.000Z","s",{"i":1}]\n`);
      await appendFile(join(dir, last), torn.subarray(0, torn.length - 10));

      const again = await open();
      assert.deepEqual(again.statsNow(), { received: 3, depth: 3 });
      assert.deepEqual(await drain(again), ids);
      assert.deepEqual(await again.enqueue(range(400, 1)), [String(next)]);
      await again.close();
      const reopened = await open();
      assert.deepEqual(reopened.statsNow(), { received: 4, depth: 1 });
      const lease = await reopened.take(10);
      assert.equal(lease?.deliveries[0]?.event.event_id, 'e400');
      await reopened.close();
    }));

  void it('cuts the log at a hole left by a write still in flight when a later one landed', () =>
    withFixture(async ({ dir, open, drain, segments }) => {
      const q = await open();
      const ids = await q.enqueue(range(600, 2));
      await q.close();
      const next = seqOf(ids.at(-1)) + 1;
      const last = (await segments()).at(-1) ?? '';
      // A crash with two writes in flight: the earlier one never landed (NUL bytes), the
      // later one did. Neither was acknowledged, so both go.
      const later = frame(`[${next + 3},"t","e-late","2025-10-24T00:00:00.000Z","s",{}]\n`);
      await appendFile(join(dir, last), Buffer.concat([Buffer.alloc(120), later]));

      const again = await open();
      assert.deepEqual(again.statsNow(), { received: 2, depth: 2 });
      assert.deepEqual(await drain(again), ids);
      assert.deepEqual(await again.enqueue(range(700, 1)), [String(next)]);
      await again.close();
      const reopened = await open();
      const lease = await reopened.take(10);
      assert.deepEqual(
        lease?.deliveries.map((d) => d.event.event_id),
        ['e700'],
        'the new record sits where the hole began',
      );
      await reopened.close();
    }));

  void it('refuses a whole request that would pass queueMax, accepting none of it', () =>
    withFixture(async ({ dir }) => {
      const q = await openLogQueue({ dir, queueMax: 5, log, isApplied: () => true });
      const before = q.statsNow();
      await assert.rejects(q.enqueue(range(500, 6)), { code: 'queue_full' });
      assert.deepEqual(q.statsNow(), before);
      await q.close();
    }));
});

void describe('embedded queue log, linger', () => {
  /**
   * A queue whose linger (a minute, so a pause of 6 s) outlasts each wait of the tests: only
   * expedite() releases a short batch.
   */
  const lingering = (dir: string): Promise<LogQueue> =>
    openLogQueue({ dir, queueMax: 100, log, isApplied: () => false, lingerMs: 60_000 });
  const ids = (lease: Lease | null): string[] => (lease as Lease).deliveries.map((d) => d.id);

  void it('holds a short batch back for the linger, and hands it out at once when expedited', () =>
    withFixture(async ({ dir }) => {
      const q = await lingering(dir);
      try {
        const first = await q.enqueue(range(0, 3));
        let taken: Lease | null | undefined;
        const take = q.take(100).then((lease) => (taken = lease));
        await sleep(50);
        assert.equal(taken, undefined, 'three events of a possible hundred wait for the linger');
        q.expedite();
        const lease = await take;
        assert.deepEqual(ids(lease), first);
        await q.ack(lease as Lease);
        // Only what was durable when expedite() ran: a later short batch lingers again (the
        // first take's linger timer is still set; it would fire only after the 6 s pause).
        await q.enqueue(range(3, 2));
        taken = undefined;
        const later = q.take(100).then((l) => (taken = l));
        await sleep(50);
        assert.equal(taken, undefined, 'events enqueued after expedite() linger as before');
        q.expedite();
        assert.deepEqual(ids(await later), ['4', '5']);
      } finally {
        await q.close();
      }
    }));

  /** The take's lease; fails the test if it has not settled within `ms`. */
  const within = async (take: Promise<Lease | null>, ms: number): Promise<Lease> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'still waiting'>((resolve) => {
      timer = setTimeout(() => resolve('still waiting'), ms);
    });
    try {
      const settled = await Promise.race([take, late]);
      assert.notEqual(settled, 'still waiting', `the take did not settle within ${ms} ms`);
      assert.ok(settled !== null && settled !== 'still waiting');
      return settled;
    } finally {
      clearTimeout(timer);
    }
  };

  /** Runs `body` on a fresh queue with these linger bounds, closing it afterwards. */
  const withLinger = (
    lingerMs: number,
    pauseMs: number,
    body: (q: LogQueue) => Promise<void>,
  ): Promise<void> =>
    withFixture(async ({ dir }) => {
      const q = await openLogQueue({
        dir,
        queueMax: 100,
        log,
        isApplied: () => false,
        lingerMs,
        pauseMs,
      });
      try {
        await body(q);
      } finally {
        await q.close();
      }
    });

  void it('ends the linger once nothing new has arrived for pauseMs', () =>
    withLinger(60_000, 300, async (q) => {
      const first = await q.enqueue(range(0, 3));
      let taken: Lease | null | undefined;
      const take = q.take(100).then((lease) => (taken = lease));
      await sleep(50);
      assert.equal(taken, undefined, 'within the pause, a short batch still lingers');
      // Far below the minute of linger: the pause, not the linger, ends the wait.
      assert.deepEqual(ids(await within(take, 10_000)), first);
    }));

  void it('keeps lingering while events keep arriving, then hands them out as one batch', () =>
    withLinger(60_000, 300, async (q) => {
      let taken: Lease | null | undefined;
      const take = q.take(100).then((lease) => (taken = lease));
      const sent: string[] = [];
      // 30 arrivals 25 ms apart: 750 ms in all, past the 300 ms pause counted from the
      // first one, while every gap stays far below it.
      for (let i = 0; i < 30; i++) {
        sent.push(...(await q.enqueue(range(i, 1))));
        await sleep(25);
        assert.equal(taken, undefined, `still lingering after arrival ${i + 1}`);
      }
      assert.deepEqual(ids(await within(take, 10_000)), sent);
    }));

  void it('ends the linger after lingerMs from the oldest however steadily events arrive', () =>
    withLinger(300, 200, async (q) => {
      let taken: Lease | null | undefined;
      const take = q.take(100).then((lease) => (taken = lease));
      const sent: string[] = [];
      // Arrivals 20 ms apart for well over a second: the pause never comes, the linger ends.
      for (let i = 0; i < 60 && taken === undefined; i++) {
        sent.push(...(await q.enqueue(range(i, 1))));
        await sleep(20);
      }
      const lease = await within(take, 10_000);
      assert.ok(sent.length < 60, 'the lease came while events were still arriving');
      assert.deepEqual(ids(lease), sent.slice(0, ids(lease).length), 'the oldest first');
      assert.ok(ids(lease).length >= 2, 'the batch gathered what arrived within the linger');
    }));

  void it('hands expedited events to a take that comes after the expedite', () =>
    withFixture(async ({ dir }) => {
      const q = await lingering(dir);
      try {
        const enqueued = await q.enqueue(range(0, 2));
        q.expedite();
        assert.deepEqual(ids(await q.take(100)), enqueued);
      } finally {
        await q.close();
      }
    }));
});

void describe('embedded queue log, bounded by bytes', () => {
  void it('refuses a whole request that would pass queueMaxBytes, accepting none of it', async () => {
    const dir = await makeDataDir();
    try {
      const q = await openLogQueue({
        dir,
        queueMax: 10_000,
        queueMaxBytes: 2_000,
        log,
        isApplied: () => false,
      });
      // An empty queue takes one request whatever its size, so it can never be stuck.
      assert.equal((await q.enqueue(range(0, 30))).length, 30);
      const before = q.statsNow();
      const bytes = q.bytesNow();
      assert.ok(bytes > 2_000);
      await assert.rejects(q.enqueue(range(30, 1)), (err: AppError) => {
        assert.equal(err.code, 'queue_full');
        assert.ok((err.retryAfter ?? 0) > 0);
        return true;
      });
      assert.deepEqual(q.statsNow(), before);
      assert.equal(q.bytesNow(), bytes);
      // Once consumed, the bytes are free again.
      const lease = (await q.take(100)) as Lease;
      await q.ack(lease);
      assert.equal(q.bytesNow(), 0);
      assert.deepEqual(await q.enqueue(range(30, 1)), ['31']);
      await q.close();
    } finally {
      await removeDir(dir);
    }
  });
});

void describe('embedded queue log, leases released out of order', () => {
  void it('keeps the waiting list in sequence order, so no segment with unapplied events is deleted', async () => {
    const dir = await makeDataDir();
    try {
      const q = await openLogQueue({
        dir,
        queueMax: 1_000,
        log,
        isApplied: () => false,
        segmentBytes: 10,
      });
      for (let b = 0; b < 3; b++) await q.enqueue(range(b * 5, 5)); // seqs 1..15, one segment each
      const a = (await q.take(5)) as Lease;
      const b = (await q.take(5)) as Lease;
      const d = (await q.take(5)) as Lease;
      await q.release(a);
      await q.release(b);
      await q.ack(d);
      await sleep(50); // let a segment cleanup run, if one was (wrongly) scheduled
      const files = (await readdir(dir)).sort();
      assert.ok(
        files[0]?.startsWith('00000000000000000001'),
        `segment of seq 1 kept: ${files.join(',')}`,
      );
      const again = (await q.take(100)) as Lease;
      assert.deepEqual(
        again.deliveries.map((x) => x.id),
        ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'],
      );
      await q.close();
    } finally {
      await removeDir(dir);
    }
  });
});
