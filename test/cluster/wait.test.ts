/**
 * ?wait=true in cluster mode: another instance may consume a request's deliveries, so the
 * request is refused up front, before anything is enqueued (a retry cannot duplicate).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startApp, type TestApp } from '../helpers/app.js';
import { makeEvent } from '../helpers/events.js';
import { postJson, stats } from '../helpers/http.js';
import {
  DATABASE_URL,
  REDIS_URL,
  clusterServicesSkipReason,
  dropPostgresSchema,
  dropRedisNamespace,
  randomNamespace,
} from './services.js';

const skip = await clusterServicesSkipReason();

void describe('?wait=true in cluster mode', { skip: skip ?? false }, () => {
  const namespace = randomNamespace();
  let t: TestApp;
  before(async () => {
    t = await startApp({
      QUEUE: 'redis',
      STORE: 'postgres',
      REDIS_URL,
      DATABASE_URL,
      NAMESPACE: namespace,
    });
  });
  after(async () => {
    await t.close();
    await dropRedisNamespace(REDIS_URL, namespace);
    await dropPostgresSchema(DATABASE_URL, namespace);
  });

  void it('is refused with 400 wait_unsupported and enqueues nothing', async () => {
    const res = await postJson<{ error: string }>(`${t.url}/publish?wait=true`, makeEvent());
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'wait_unsupported');
    assert.equal((await stats(t.url)).received, 0);
    assert.equal(
      (await postJson(`${t.url}/publish`, makeEvent())).status,
      202,
      'without wait it is accepted',
    );
  });
});
