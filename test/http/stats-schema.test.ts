/**
 * The /stats shape is declared once (StatsSchema); this checks that what a real app answers
 * is exactly that: every declared field, of its declared type, and no undeclared one, in
 * embedded mode and (with the services, REQUIRE_SERVICES=1 in CI) in cluster mode.
 * The types in http/context.ts, client/types.ts, the test and bench helpers all derive from
 * the same schema with Static<typeof StatsSchema>.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { StatsSchema } from '../../src/domain/schemas.js';
import { invariantHolds } from '../../src/domain/stats.js';
import { normaliseTimestamp } from '../../src/domain/timestamp.js';
import {
  DATABASE_URL,
  REDIS_URL,
  clusterServicesSkipReason,
  dropPostgresSchema,
  dropRedisNamespace,
  randomNamespace,
} from '../cluster/services.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { makeEvent, makeEvents } from '../helpers/events.js';
import { getJson, postJson, waitIdle } from '../helpers/http.js';

const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addFormat('date-time', { type: 'string', validate: (s) => normaliseTimestamp(s) !== null });
// The served answer may not carry a field the schema does not declare.
const validateStats = ajv.compile({ ...StatsSchema, additionalProperties: false });

async function assertStatsMatchSchema(t: TestApp, mode: string): Promise<void> {
  const first = makeEvent({ topic: 'beta' });
  assert.equal((await postJson(`${t.url}/publish`, [...makeEvents(5), first, first])).status, 202);
  assert.equal((await postJson(`${t.url}/publish`, { nope: 1 })).status, 400);
  await waitIdle(t.url);
  const res = await getJson(`${t.url}/stats`);
  assert.equal(res.status, 200);
  assert.ok(validateStats(res.body), ajv.errorsText(validateStats.errors));
  // Every declared field is present (Type.Object makes them all required) ...
  assert.deepEqual(
    Object.keys(res.body as object).sort(),
    Object.keys(StatsSchema.properties).sort(),
  );
  const s = res.body as Parameters<typeof invariantHolds>[0] & {
    mode: string;
    topics: string[];
    rejected: number;
  };
  // ... and carries what happened.
  assert.equal(s.mode, mode);
  assert.deepEqual(s.topics, ['beta', 'orders']);
  assert.equal(s.received, 7);
  assert.equal(s.rejected, 1);
  assert.ok(invariantHolds(s));
}

void describe('GET /stats matches StatsSchema', () => {
  void it('in embedded mode', async () => {
    const t = await startApp();
    try {
      await assertStatsMatchSchema(t, 'embedded');
    } finally {
      await t.close();
    }
  });

  void it('in cluster mode', async (ctx) => {
    const skip = await clusterServicesSkipReason();
    if (skip !== null) return ctx.skip(skip);
    const namespace = randomNamespace();
    const t = await startApp({
      QUEUE: 'redis',
      STORE: 'postgres',
      REDIS_URL,
      DATABASE_URL,
      NAMESPACE: namespace,
    });
    try {
      await assertStatsMatchSchema(t, 'cluster');
    } finally {
      await t.close();
      await dropRedisNamespace(REDIS_URL, namespace);
      await dropPostgresSchema(DATABASE_URL, namespace);
    }
  });
});
