/**
 * POST /publish?wait=true does not pay the consumer linger (CONSUMER_LINGER_MS): the route
 * asks the queue to hand its events out at once (Queue.expedite). With a linger of a minute,
 * a lone event would otherwise wait for the stream's pause (a tenth of the linger: 6 s), while
 * a plain 202 publish shows the linger really holds events back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startApp, type TestApp } from '../helpers/app.js';
import { makeEvent } from '../helpers/events.js';
import { getJson, postJson } from '../helpers/http.js';
import { sleep } from '../helpers/tmp.js';

interface Stats {
  received: number;
  unique_processed: number;
  queue_depth: number;
}

void describe('POST /publish?wait=true under a long consumer linger', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ CONSUMER_LINGER_MS: '60000', WAIT_TIMEOUT_MS: '30000' });
  });
  after(() => t.close());

  void it('leaves a lone 202 event queued for the linger', async () => {
    const res = await postJson(`${t.url}/publish`, [makeEvent({ topic: 'lingering' })]);
    assert.equal(res.status, 202);
    await sleep(300);
    const stats = await getJson<Stats>(`${t.url}/stats`);
    assert.equal(stats.body.received, 1);
    assert.equal(stats.body.queue_depth, 1, 'a batch of one of BATCH_MAX waits for the linger');
    assert.equal(stats.body.unique_processed, 0);
  });

  void it('answers wait=true with its results, taking the lingering event along', async () => {
    const waited = makeEvent({ topic: 'waited' });
    const started = Date.now();
    const res = await postJson<{ results: { status: string }[] }>(`${t.url}/publish?wait=true`, [
      waited,
    ]);
    assert.equal(res.status, 200);
    assert.deepEqual(
      res.body.results.map((r) => r.status),
      ['stored'],
    );
    // Half the 6 s pause that ends a linger without expedite; far from a tight timing bound.
    assert.ok(Date.now() - started < 3_000, `answered after ${Date.now() - started} ms`);
    const stats = await getJson<Stats>(`${t.url}/stats`);
    assert.equal(stats.body.unique_processed, 2, 'the earlier event went out with it');
    assert.equal(stats.body.queue_depth, 0);
  });
});
