/**
 * Retention through the HTTP API (embedded mode): expired events are gone from /events,
 * /events/:topic/:event_id and /subscribe, /stats and /topics count `stored` and `expired`
 * exactly, /metrics exports them, and a re-sent expired event is still a duplicate.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventBytes } from '../../src/domain/retention.js';
import { startApp } from '../helpers/app.js';
import { makeEvent, type TestEvent } from '../helpers/events.js';
import { allEvents, getJson, postJson, stats, type StatsBody } from '../helpers/http.js';
import { sleep } from '../helpers/tmp.js';

interface RetentionStats extends StatsBody {
  readonly stored: number;
  readonly expired: number;
  readonly stored_bytes: number;
  readonly retention: {
    max_age_seconds: number | null;
    max_bytes: number | null;
    dedup_window_seconds: number | null;
  };
}

interface WaitResult {
  readonly results: { status: string; offset: number | null }[];
}

/** Polls /stats (bounded) until `done` holds. */
async function statsWhen(
  url: string,
  done: (s: RetentionStats) => boolean,
  timeoutMs = 20_000,
): Promise<RetentionStats> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = (await stats(url)) as RetentionStats;
    if (done(s)) return s;
    if (Date.now() > until) throw new Error(`stats never matched: ${JSON.stringify(s)}`);
    await sleep(50);
  }
}

async function assertExact(url: string): Promise<RetentionStats> {
  const s = (await stats(url)) as RetentionStats;
  const rows = await allEvents(url);
  assert.equal(s.stored, rows.length, 'stored = what /events returns');
  assert.equal(s.unique_processed, s.stored + s.expired, 'unique_processed = stored + expired');
  assert.equal(s.received, s.unique_processed + s.duplicate_dropped + s.queue_depth);
  const topics = (await getJson<{ topic: string; stored: number }[]>(`${url}/topics`)).body;
  for (const t of topics) {
    assert.equal(t.stored, rows.filter((r) => r.topic === t.topic).length, `topic ${t.topic}`);
  }
  return s;
}

/** Events of one size (ids of one length), so a byte bound is a count of events. */
function sized(n: number, label: string): TestEvent[] {
  return Array.from({ length: n }, (_, i) =>
    makeEvent({ topic: 'sized', event_id: `${label}-${String(i).padStart(6, '0')}` }),
  );
}

const bytesOf = (e: TestEvent): number =>
  eventBytes({ ...e, timestamp: '2025-10-24T00:00:00.000Z', payload: JSON.stringify(e.payload) });

void describe('retention over HTTP', () => {
  void it('RETENTION_MAX_AGE: expired events are gone from every read, counted exactly, and still duplicates', async () => {
    const t = await startApp({ RETENTION_MAX_AGE: '1s' });
    try {
      const old = Array.from({ length: 40 }, (_, i) => makeEvent({ topic: i % 2 ? 'a' : 'b' }));
      const published = await postJson<WaitResult>(`${t.url}/publish?wait=true`, old);
      assert.equal(published.status, 200);
      const s = await statsWhen(t.url, (x) => x.expired === old.length);
      assert.equal(s.stored, 0);
      assert.deepEqual(s.retention, {
        max_age_seconds: 1,
        max_bytes: null,
        dedup_window_seconds: null,
      });
      const first = old[0] as TestEvent;
      const one = await getJson(`${t.url}/events/${first.topic}/${first.event_id}`);
      assert.equal(one.status, 404);
      assert.deepEqual(await allEvents(t.url), []);

      // Re-sent after expiry: a duplicate of its old offset, nothing stored.
      const again = await postJson<WaitResult>(`${t.url}/publish?wait=true`, [first]);
      assert.deepEqual(
        again.body.results.map((r) => [r.status, r.offset]),
        [['duplicate', published.body.results[0]?.offset]],
      );

      // New events continue above the expired offsets.
      const fresh = await postJson<WaitResult>(`${t.url}/publish?wait=true`, [makeEvent()]);
      const freshOffset = fresh.body.results[0]?.offset ?? 0;
      assert.ok(freshOffset > Math.max(...published.body.results.map((r) => r.offset ?? 0)));
      // (the fresh event may expire too by now: one more at most)
      const s2 = await assertExact(t.url);
      assert.ok(s2.expired === old.length || s2.expired === old.length + 1);
      const metrics = await (await fetch(`${t.url}/metrics`)).text();
      assert.match(
        metrics,
        new RegExp(`^logsieve_events_expired_total (${old.length}|${old.length + 1})$`, 'm'),
      );
      assert.match(metrics, /^logsieve_events_stored [01]$/m);
      assert.match(metrics, /^logsieve_stored_bytes \d+$/m);
    } finally {
      await t.close();
    }
  });

  void it('RETENTION_MAX_BYTES: the oldest events go while the stored bytes exceed the bound', async () => {
    const events = sized(60, 'x');
    const one = bytesOf(events[0] as TestEvent);
    const t = await startApp({ RETENTION_MAX_BYTES: String(one * 25) });
    try {
      for (let i = 0; i < events.length; i += 20) {
        const r = await postJson(`${t.url}/publish?wait=true`, events.slice(i, i + 20));
        assert.equal(r.status, 200);
      }
      const s = await statsWhen(t.url, (x) => x.stored_bytes <= one * 25);
      assert.equal(s.stored, 25);
      assert.equal(s.stored_bytes, one * 25);
      await assertExact(t.url);
      const rows = await allEvents(t.url);
      assert.deepEqual(
        rows.map((r) => r.event_id),
        events.slice(-25).map((e) => e.event_id),
        'the newest 25 are kept',
      );
      // A subscriber from 0 (below the oldest retained offset) starts at the oldest retained.
      const controller = new AbortController();
      const res = await fetch(`${t.url}/subscribe?after=0`, { signal: controller.signal });
      const reader = res.body?.getReader();
      assert.ok(reader !== undefined);
      let text = '';
      while (!/id: \d+\n/.test(text)) {
        const chunk = await reader.read();
        if (chunk.done) break;
        text += Buffer.from(chunk.value).toString();
      }
      controller.abort();
      assert.equal(/id: (\d+)\n/.exec(text)?.[1], String(rows[0]?.offset));
    } finally {
      await t.close();
    }
  });
});
