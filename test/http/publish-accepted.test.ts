/**
 * The 202 answer of POST /publish, which is pre-serialised on the hot path: it must stay
 * exactly what the PublishAcceptedSchema serializer wrote, with the same content type.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startApp, type TestApp } from '../helpers/app.js';
import { makeEvent, makeEvents } from '../helpers/events.js';

void describe('publish 202 body', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp();
  });
  after(() => t.close());

  const post = (body: unknown): Promise<Response> =>
    fetch(`${t.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  void it('answers one event with {"accepted":1} as JSON', async () => {
    const res = await post(makeEvent());
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(await res.text(), '{"accepted":1}');
  });

  void it('counts every event of a batch', async () => {
    const res = await post(makeEvents(3));
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.deepEqual(JSON.parse(await res.text()), { accepted: 3 });
  });
});
