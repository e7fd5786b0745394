/** Start-up refusals of the built server: a second process on one DATA_DIR, bad config. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { launch, spawnServer } from '../helpers/server.js';
import { freePort, makeDataDir, removeDir } from '../helpers/tmp.js';
import {
  DATABASE_URL,
  REDIS_URL,
  clusterServicesSkipReason,
  dropPostgresSchema,
  dropRedisNamespace,
  randomNamespace,
} from '../cluster/services.js';

void describe('start-up', () => {
  void it('refuses a second process on the same DATA_DIR with a clear error', async () => {
    const dataDir = await makeDataDir();
    const first = await spawnServer({ DATA_DIR: dataDir });
    try {
      const second = launch({ DATA_DIR: dataDir, PORT: String(await freePort()) });
      const exit = await second.exited;
      assert.notEqual(exit.code, 0);
      assert.match(second.stderr(), /in use by another process|one aggregator per DATA_DIR/);
      assert.equal((await fetch(`${first.url}/healthz`)).status, 200, 'the first keeps serving');
    } finally {
      await first.kill('SIGKILL');
      await removeDir(dataDir);
    }
  });

  const bad: [string, Record<string, string>][] = [
    ['PORT', { PORT: 'abc' }],
    ['WORKERS', { WORKERS: '0' }],
    ['QUEUE_MAX', { QUEUE_MAX: '-5' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['STORE', { QUEUE: 'redis' }],
    // Found by an outside probe: these started an open server, or exited 1 with a line
    // that named neither the variable nor the value.
    ['API_KEYS', { API_KEYS: ',,,' }],
    ['READ_API_KEYS', { READ_API_KEYS: ' , ' }],
    ['HOST', { HOST: '999.1.1.1' }],
    [
      'TLS_CERT_FILE',
      { TLS_CERT_FILE: '/nonexistent/cert.pem', TLS_KEY_FILE: '/nonexistent/key.pem' },
    ],
  ];
  for (const [variable, env] of bad) {
    void it(`exits 2 with one stderr line naming ${variable} for ${JSON.stringify(env)}`, async () => {
      const dataDir = await makeDataDir();
      try {
        await refusedNaming(variable, { PORT: '0', DATA_DIR: dataDir, ...env });
      } finally {
        await removeDir(dataDir);
      }
    });
  }

  void it('exits 2 naming TLS_CERT_FILE for files that are not a PEM certificate and key', async () => {
    const dir = await makeDataDir();
    try {
      await writeFile(join(dir, 'cert.pem'), 'not a certificate\n');
      await writeFile(join(dir, 'key.pem'), 'not a key\n');
      await refusedNaming('TLS_CERT_FILE', {
        PORT: '0',
        DATA_DIR: join(dir, 'data'),
        TLS_CERT_FILE: join(dir, 'cert.pem'),
        TLS_KEY_FILE: join(dir, 'key.pem'),
      });
    } finally {
      await removeDir(dir);
    }
  });

  void it('exits 2 naming DATA_DIR and the path when it cannot be made a directory', async () => {
    const dir = await makeDataDir();
    try {
      // A file where a parent directory should be: refused even for root (ENOTDIR).
      await writeFile(join(dir, 'file'), '');
      const line = await refusedNaming('DATA_DIR', {
        PORT: '0',
        DATA_DIR: join(dir, 'file', 'data'),
      });
      assert.ok(line.includes(join(dir, 'file', 'data')), line);
    } finally {
      await removeDir(dir);
    }
  });

  void it(
    'exits 2 naming DATA_DIR for a path under /proc instead of hanging',
    { skip: existsSync('/proc/self') ? false : 'no /proc on this system' },
    async () => {
      // Found by an outside probe: Node's mkdir(..., { recursive: true }) never settles for a
      // missing path under /proc (the kernel answers ENOENT with the parent present), so
      // start-up spun at ~80 % CPU and ignored SIGTERM.
      const line = await refusedNaming('DATA_DIR', {
        PORT: '0',
        DATA_DIR: '/proc/logsieve-no-such-dir/data',
      });
      assert.ok(line.includes('/proc/logsieve-no-such-dir'), line);
    },
  );
});

void describe(
  'start-up in cluster mode',
  { skip: (await clusterServicesSkipReason()) ?? false },
  () => {
    void it('exits 2 naming REDIS_URL when it names a database this Redis does not have', async () => {
      // Found by an outside probe: ioredis reports the refused SELECT as an error event and
      // goes on, on database 0, so the instance served from another deployment's keys.
      const dataDir = await makeDataDir();
      const namespace = randomNamespace();
      try {
        const line = await refusedNaming('REDIS_URL', {
          PORT: '0',
          DATA_DIR: dataDir,
          QUEUE: 'redis',
          STORE: 'postgres',
          REDIS_URL: `${REDIS_URL.replace(/\/\d+$/, '')}/9999`,
          DATABASE_URL,
          NAMESPACE: namespace,
        });
        assert.match(line, /9999/);
      } finally {
        await removeDir(dataDir);
        await dropPostgresSchema(DATABASE_URL, namespace);
        await dropRedisNamespace(REDIS_URL, namespace);
      }
    });
  },
);

/** Launches the server, expects exit code 2 and one stderr line naming `variable`. */
async function refusedNaming(variable: string, env: Record<string, string>): Promise<string> {
  const proc = launch(env);
  // Bounded: a server that starts after all must fail this test, not hang the suite.
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([
    proc.exited,
    new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), 20_000);
    }),
  ]);
  clearTimeout(timer);
  if (exit === null) {
    proc.child.kill('SIGKILL');
    await proc.exited;
    assert.fail(`still running 20 s after start instead of refusing: ${proc.stderr()}`);
  }
  assert.equal(exit.code, 2, proc.stderr());
  const lines = proc.stderr().trimEnd().split('\n');
  assert.equal(lines.length, 1, proc.stderr());
  const line = lines[0] ?? '';
  assert.match(line, new RegExp(`\\b${variable}\\b`));
  return line;
}
