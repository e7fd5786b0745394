/**
 * TLS_CERT_FILE + TLS_KEY_FILE: the server speaks HTTPS, with a certificate this test makes
 * (openssl), and refuses plain HTTP; a half or unreadable TLS configuration stops start-up
 * naming the variable.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, fetch as undiciFetch } from 'undici';
import { ConfigError, loadConfig } from '../../src/config.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { makeEvent } from '../helpers/events.js';
import { makeDataDir, removeDir } from '../helpers/tmp.js';

const KEY = 'https-test-key-0123456789';

void describe('HTTPS', () => {
  let dir: string;
  let t: TestApp;
  let agent: Agent;
  before(async () => {
    dir = await makeDataDir('logsieve-tls');
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-keyout',
        key,
        '-out',
        cert,
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { stdio: 'ignore' },
    );
    agent = new Agent({ connect: { ca: readFileSync(cert) } });
    t = await startApp({ TLS_CERT_FILE: cert, TLS_KEY_FILE: key, API_KEYS: KEY });
  });
  after(async () => {
    await t.close();
    await agent.close();
    await removeDir(dir);
  });

  void it('round-trips a publish and a read over HTTPS, certificate verified', async () => {
    assert.match(t.url, /^https:\/\//);
    const auth = { authorization: `Bearer ${KEY}` };
    const event = makeEvent({ topic: 'tls' });
    const pub = await undiciFetch(`${t.url}/publish?wait=true`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify(event),
      dispatcher: agent,
    });
    assert.equal(pub.status, 200);
    const got = await undiciFetch(`${t.url}/events/tls/${event.event_id}`, {
      headers: auth,
      dispatcher: agent,
    });
    assert.equal(got.status, 200);
    assert.equal(((await got.json()) as { event_id: string }).event_id, event.event_id);
  });

  void it('does not answer plain HTTP on the same port', async () => {
    const url = new URL(t.url);
    const outcome = await new Promise<string>((resolve) => {
      const req = httpRequest(
        { host: url.hostname, port: url.port, path: '/healthz', timeout: 5_000 },
        (res) => resolve(`status ${res.statusCode ?? 0}`),
      );
      req.on('error', () => resolve('error'));
      req.on('timeout', () => {
        req.destroy();
        resolve('error');
      });
      req.end();
    });
    assert.notEqual(outcome, 'status 200');
  });
});

void describe('TLS configuration', () => {
  void it('needs both files: one alone is refused naming the missing variable', () => {
    for (const [env, variable] of [
      [{ TLS_CERT_FILE: '/x/cert.pem' }, 'TLS_KEY_FILE'],
      [{ TLS_KEY_FILE: '/x/key.pem' }, 'TLS_CERT_FILE'],
    ] as const) {
      assert.throws(
        () => loadConfig([], env),
        (err: unknown) => err instanceof ConfigError && err.variable === variable,
      );
    }
  });

  void it('stops start-up naming the variable when a file cannot be read', async () => {
    await assert.rejects(
      startApp({ TLS_CERT_FILE: '/nonexistent/cert.pem', TLS_KEY_FILE: '/nonexistent/key.pem' }),
      /TLS_CERT_FILE/,
    );
  });

  void it('stops start-up on files that are not PEM, and frees DATA_DIR for the next start', async () => {
    // The backend (queue log, store thread, DATA_DIR lock) is open when the HTTPS server is
    // made; a start that fails there must close it, or the same process could never start
    // again on that DATA_DIR ("in use by another process").
    const dir = await makeDataDir('logsieve-tls-bad');
    try {
      const cert = join(dir, 'cert.pem');
      const key = join(dir, 'key.pem');
      await writeFile(cert, 'not a certificate\n');
      await writeFile(key, 'not a key\n');
      await assert.rejects(startApp({ TLS_CERT_FILE: cert, TLS_KEY_FILE: key }, { dataDir: dir }));
      const again = await startApp({}, { dataDir: dir });
      await again.close({ keepDir: true });
    } finally {
      await removeDir(dir);
    }
  });
});
