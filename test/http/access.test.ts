/**
 * Access (SPEC "Access"): the status of every endpoint for no key, an unknown key, a
 * read-only key and a full key; PUBLIC_READS and METRICS_PUBLIC; ?access_token= on
 * /subscribe only; no key in any log line, in-process and in the built server at trace level.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startApp, type TestApp } from '../helpers/app.js';
import { makeEvent } from '../helpers/events.js';
import { spawnServer } from '../helpers/server.js';
import { makeDataDir, removeDir } from '../helpers/tmp.js';

const FULL = 'full-key-0123456789abcdef';
const READ = 'read-key-0123456789abcdef';
const UNKNOWN = 'unknown-key-0123456789ab';

type Who = 'none' | 'unknown' | 'read' | 'full';
const WHO: readonly Who[] = ['none', 'unknown', 'read', 'full'];

interface Endpoint {
  readonly name: string;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly kind: 'write' | 'read' | 'metrics' | 'open';
}

const ENDPOINTS: readonly Endpoint[] = [
  { name: 'POST /publish', method: 'POST', path: '/publish', kind: 'write' },
  { name: 'GET /events', method: 'GET', path: '/events', kind: 'read' },
  { name: 'GET /events/:topic/:id', method: 'GET', path: '/events/orders/nope', kind: 'read' },
  { name: 'GET /events/a/b/c/:id', method: 'GET', path: '/events/app/prod/nope', kind: 'read' },
  { name: 'GET /topics', method: 'GET', path: '/topics', kind: 'read' },
  { name: 'GET /stats', method: 'GET', path: '/stats', kind: 'read' },
  { name: 'GET /subscribe', method: 'GET', path: '/subscribe', kind: 'read' },
  { name: 'GET /metrics', method: 'GET', path: '/metrics', kind: 'metrics' },
  { name: 'GET /healthz', method: 'GET', path: '/healthz', kind: 'open' },
  { name: 'GET /readyz', method: 'GET', path: '/readyz', kind: 'open' },
  { name: 'GET / (dashboard)', method: 'GET', path: '/', kind: 'open' },
  { name: 'GET /docs', method: 'GET', path: '/docs', kind: 'open' },
  { name: 'GET /openapi.json', method: 'GET', path: '/openapi.json', kind: 'open' },
];

const keyOf = (who: Who): string | null =>
  who === 'full' ? FULL : who === 'read' ? READ : who === 'unknown' ? UNKNOWN : null;

/** Status of one request; SSE streams are cut as soon as their status is known. */
async function statusOf(
  base: string,
  e: Endpoint,
  who: Who,
  opts: { queryToken?: boolean } = {},
): Promise<number> {
  const key = keyOf(who);
  const headers: Record<string, string> = {};
  let path = e.path;
  if (key !== null && opts.queryToken === true) {
    path += `${path.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(key)}`;
  } else if (key !== null) {
    headers.authorization = `Bearer ${key}`;
  }
  const abort = new AbortController();
  const init: RequestInit = { method: e.method, headers, signal: abort.signal };
  if (e.method === 'POST') {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(makeEvent());
  }
  const res = await fetch(`${base}${path}`, init);
  abort.abort();
  await res.body?.cancel().catch(() => undefined);
  return res.status;
}

/** Allowed means the route ran: any status but 401/403 (a missing event is a 404). */
const allowed = (status: number): boolean => status !== 401 && status !== 403;

function expected(
  e: Endpoint,
  who: Who,
  env: { publicReads?: boolean; metricsPublic?: boolean; noFullKeys?: boolean },
): 'ok' | 401 | 403 {
  // Without API_KEYS the "full" key of this file is just an unknown key.
  if (env.noFullKeys === true && who === 'full') return expected(e, 'unknown', env);
  if (e.kind === 'open') return 'ok';
  if (e.kind === 'read' && env.publicReads === true) return 'ok';
  if (e.kind === 'metrics' && (env.publicReads === true || env.metricsPublic === true)) {
    return 'ok';
  }
  if (who === 'none' || who === 'unknown') return 401;
  if (e.kind === 'write' && who === 'read') return 403;
  return 'ok';
}

function matrix(title: string, env: Record<string, string>, flags: Parameters<typeof expected>[2]) {
  void describe(title, () => {
    let t: TestApp;
    before(async () => {
      t = await startApp(env);
    });
    after(() => t.close());

    for (const e of ENDPOINTS) {
      void it(`${e.name}: ${WHO.map((w) => `${w}=${String(expected(e, w, flags))}`).join(' ')}`, async () => {
        for (const who of WHO) {
          const status = await statusOf(t.url, e, who);
          const want = expected(e, who, flags);
          if (want === 'ok') assert.ok(allowed(status), `${e.name} with ${who} key: ${status}`);
          else assert.equal(status, want, `${e.name} with ${who} key`);
        }
      });
    }
  });
}

matrix('access with API_KEYS and READ_API_KEYS', { API_KEYS: FULL, READ_API_KEYS: READ }, {});
matrix(
  'access with PUBLIC_READS=true',
  { API_KEYS: FULL, READ_API_KEYS: READ, PUBLIC_READS: 'true' },
  { publicReads: true },
);
matrix(
  'access with METRICS_PUBLIC=true',
  { API_KEYS: FULL, READ_API_KEYS: READ, METRICS_PUBLIC: 'true' },
  { metricsPublic: true },
);
matrix(
  'access with only READ_API_KEYS (nothing can publish)',
  { READ_API_KEYS: READ },
  { noFullKeys: true },
);

void describe('access without keys', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp();
  });
  after(() => t.close());

  void it('leaves every endpoint open (zero-setup embedded mode)', async () => {
    for (const e of ENDPOINTS) {
      assert.ok(allowed(await statusOf(t.url, e, 'none')), e.name);
    }
  });
});

void describe('keys in the query string and in logs', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ API_KEYS: FULL, READ_API_KEYS: READ });
  });
  after(() => t.close());

  const subscribe = ENDPOINTS.find((e) => e.path === '/subscribe') as Endpoint;
  const events = ENDPOINTS.find((e) => e.path === '/events') as Endpoint;

  void it('/subscribe takes ?access_token= (EventSource cannot send headers)', async () => {
    assert.equal(await statusOf(t.url, subscribe, 'read', { queryToken: true }), 200);
    assert.equal(await statusOf(t.url, subscribe, 'full', { queryToken: true }), 200);
    assert.equal(await statusOf(t.url, subscribe, 'unknown', { queryToken: true }), 401);
  });

  void it('other routes do not take a key from the query string', async () => {
    assert.equal(await statusOf(t.url, events, 'read', { queryToken: true }), 401);
  });

  void it('answers 401 with the error shape, WWW-Authenticate, and a message that names no key', async () => {
    const res = await fetch(`${t.url}/stats`, { headers: { authorization: `Bearer ${UNKNOWN}` } });
    assert.equal(res.status, 401);
    // RFC 9110 11.6.1: a 401 names the scheme that would be accepted.
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="logsieve"');
    const body = (await res.json()) as { error: string; message: string; details: unknown[] };
    assert.equal(body.error, 'unauthorized');
    assert.ok(!JSON.stringify(body).includes(UNKNOWN));
    const forbidden = await fetch(`${t.url}/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${READ}`, 'content-type': 'application/json' },
      body: JSON.stringify(makeEvent()),
    });
    assert.equal(forbidden.status, 403);
    assert.equal(((await forbidden.json()) as { error: string }).error, 'forbidden');
  });

  void it('writes no key into any log line', () => {
    const text = JSON.stringify(t.logs);
    for (const key of [FULL, READ, UNKNOWN]) assert.ok(!text.includes(key), `${key} logged`);
  });
});

void describe('keys never logged by the built server, even at LOG_LEVEL=trace', () => {
  void it('sends every kind of request with keys and finds none of them in stdout or stderr', async () => {
    const dir = await makeDataDir();
    const server = await spawnServer({
      DATA_DIR: dir,
      API_KEYS: FULL,
      READ_API_KEYS: READ,
      LOG_LEVEL: 'trace',
    });
    try {
      for (const e of ENDPOINTS) {
        for (const who of WHO) {
          await statusOf(server.url, e, who);
          if (e.path === '/subscribe') await statusOf(server.url, e, who, { queryToken: true });
        }
      }
      // A bad query with a key in it, and a key in an unknown route's query string.
      await fetch(`${server.url}/subscribe?after=-1&access_token=${READ}`);
      await fetch(`${server.url}/nope?access_token=${FULL}`, {
        headers: { authorization: `Bearer ${FULL}` },
      });
    } finally {
      await server.kill('SIGTERM');
      await removeDir(dir);
    }
    const output = server.stdout() + server.stderr();
    assert.ok(output.length > 0, 'trace level logged something');
    for (const key of [FULL, READ, UNKNOWN]) {
      assert.ok(!output.includes(key), `${key} appears in the server's output`);
    }
  });
});
