/** Start-up refusals of the built server: a second process on one DATA_DIR, bad config. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { launch, spawnServer } from '../helpers/server.js';
import { freePort, makeDataDir, removeDir } from '../helpers/tmp.js';

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
  ];
  for (const [variable, env] of bad) {
    void it(`exits 2 with one stderr line naming ${variable} for ${JSON.stringify(env)}`, async () => {
      const dataDir = await makeDataDir();
      try {
        const proc = launch({ PORT: '0', DATA_DIR: dataDir, ...env });
        const exit = await proc.exited;
        assert.equal(exit.code, 2);
        const lines = proc.stderr().trimEnd().split('\n');
        assert.equal(lines.length, 1, proc.stderr());
        assert.match(lines[0] ?? '', new RegExp(`\\b${variable}\\b`));
      } finally {
        await removeDir(dataDir);
      }
    });
  }
});
