/**
 * The documented 504 of POST /publish?wait=true: when processing takes longer than
 * WAIT_TIMEOUT_MS the request answers 504 `timeout`, and the events it carried are still
 * queued and processed (the 504 says "accepted, not processed yet", never "lost").
 *
 * Processing is made to take longer than the timeout without faking anything: a backlog of
 * 10,000 events ahead of the waiting one, applied 10 at a time by one worker, against a
 * 1 ms timeout. The backlog alone takes a thousand store round trips.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { invariantHolds } from '../../src/domain/stats.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { makeEvent, makeEvents } from '../helpers/events.js';
import { getJson, postJson, waitIdle, type ErrorBody } from '../helpers/http.js';

void describe('POST /publish?wait=true past WAIT_TIMEOUT_MS', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ WAIT_TIMEOUT_MS: '1', WORKERS: '1', BATCH_MAX: '10' });
  });
  after(() => t.close());

  void it('answers 504 timeout, and the events are processed anyway', async () => {
    const backlog = await postJson(`${t.url}/publish`, makeEvents(10_000));
    assert.equal(backlog.status, 202);
    const waited = makeEvent({ topic: 'waited' });
    const res = await postJson<ErrorBody>(`${t.url}/publish?wait=true`, [waited]);
    assert.equal(res.status, 504);
    assert.equal(res.body.error, 'timeout');
    assert.match(res.body.message, /queued/);

    const idle = await waitIdle(t.url, 60_000);
    assert.equal(idle.received, 10_001);
    assert.equal(idle.unique_processed, 10_001);
    assert.ok(invariantHolds(idle));
    const stored = await getJson(
      `${t.url}/events/${waited.topic}/${encodeURIComponent(waited.event_id)}`,
    );
    assert.equal(stored.status, 200, 'the event of the 504 request was stored');
  });
});
