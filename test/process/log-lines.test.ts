/**
 * The process's log destination is buffered (run.ts): duplicate-drop lines must still reach
 * stdout while the server runs (the periodic flush), and none may be lost at a clean stop.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeEvent } from '../helpers/events.js';
import { postJson, waitIdle } from '../helpers/http.js';
import { spawnServer } from '../helpers/server.js';
import { makeDataDir, removeDir, sleep } from '../helpers/tmp.js';

const dropped = (out: string): string[] =>
  out.split('\n').filter((l) => l.includes('duplicate dropped'));

void describe('log lines of the running process', () => {
  void it('writes duplicate-drop lines while running, and every one by a clean stop', async () => {
    const dir = await makeDataDir();
    const server = await spawnServer({ DATA_DIR: dir, LOG_LEVEL: 'info' });
    try {
      const first = makeEvent({ topic: 'log-lines' });
      assert.equal((await postJson(`${server.url}/publish`, first)).status, 202);
      assert.equal((await postJson(`${server.url}/publish`, first)).status, 202);
      await waitIdle(server.url);
      // A single line is far below the buffer size: only the periodic flush writes it.
      for (let i = 0; i < 200 && dropped(server.stdout()).length === 0; i++) await sleep(25);
      assert.equal(dropped(server.stdout()).length, 1, 'the line is written while running');

      const copies = Array.from({ length: 20 }, () => first);
      assert.equal((await postJson(`${server.url}/publish`, copies)).status, 202);
      await waitIdle(server.url);
      assert.deepEqual(await server.kill('SIGTERM'), { code: 0, signal: null });
      assert.equal(dropped(server.stdout()).length, 21, 'nothing lost at a clean stop');
      assert.match(server.stdout(), /stopped cleanly/);
    } finally {
      await server.kill('SIGKILL');
      await removeDir(dir);
    }
  });
});
