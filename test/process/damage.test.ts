/**
 * A damaged queue log at the process level: the built server refuses to start with one
 * line naming the file and byte and leaves the data untouched; `logsieve recover` salvages
 * every intact record and keeps the damaged segment aside; the server then starts with
 * nothing acknowledged lost or counted twice.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { makeEvent } from '../helpers/events.js';
import { allEvents, postJson, waitIdle } from '../helpers/http.js';
import { launch, spawnServer } from '../helpers/server.js';
import { freePort, makeDataDir, removeDir } from '../helpers/tmp.js';

const CLI_JS = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function runCli(
  args: readonly string[],
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_JS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => resolve({ code, out, err }));
  });
}

void describe('a damaged queue log', () => {
  void it('stops start-up naming file and byte; recover salvages it; nothing acked is lost', async () => {
    const dataDir = await makeDataDir('logsieve-damage');
    try {
      const server = await spawnServer({ DATA_DIR: dataDir });
      const sent = Array.from({ length: 100 }, (_, i) =>
        makeEvent({ topic: 'dmg', payload: { i, text: 'abracadabra'.repeat(8) } }),
      );
      for (const e of sent) assert.equal((await postJson(`${server.url}/publish`, e)).status, 202);
      await waitIdle(server.url);
      const beside = await runCli(['recover', '--data-dir', dataDir]);
      assert.equal(beside.code, 1, 'recover refuses to run beside a live aggregator');
      assert.match(beside.err, /^logsieve recover: .*in use by another process[^\n]*\n$/);
      assert.equal((await server.kill('SIGTERM')).code, 0);

      const queueDir = join(dataDir, 'queue');
      const names = (await readdir(queueDir)).filter((n) => n.endsWith('.log'));
      assert.equal(names.length, 1);
      const file = join(queueDir, names[0] ?? '');
      const bytes = await readFile(file);
      const at = Math.floor(bytes.length / 4);
      bytes.fill(0, at, at + 512);
      await writeFile(file, bytes);

      const refused = launch({ DATA_DIR: dataDir, PORT: String(await freePort()) });
      const exit = await refused.exited;
      assert.notEqual(exit.code, 0);
      const lines = refused.stderr().trimEnd().split('\n');
      assert.equal(lines.length, 1, refused.stderr());
      assert.ok(lines[0]?.includes(file), lines[0]);
      assert.match(lines[0] ?? '', /byte \d+/);
      assert.match(lines[0] ?? '', /logsieve recover/);
      assert.deepEqual(await readFile(file), bytes, 'start-up changed nothing');

      const recovered = await runCli(['recover', '--data-dir', dataDir]);
      assert.equal(recovered.code, 0, recovered.err);
      // Every event was applied before the damage, so none of the unreadable ones is lost.
      assert.match(recovered.out, /could not read 0 record\(s\) that were not yet stored/);
      const aside = await readdir(join(dataDir, 'queue-damaged'));
      assert.equal(aside.length, 1);
      assert.deepEqual(await readFile(join(dataDir, 'queue-damaged', aside[0] ?? '')), bytes);

      const again = await server.restart();
      try {
        const s = await waitIdle(again.url);
        assert.equal(s.received, 100);
        assert.equal(s.unique_processed, 100);
        assert.equal(s.received, s.unique_processed + s.duplicate_dropped + s.queue_depth);
        assert.equal((await allEvents(again.url, { topic: 'dmg' })).length, 100);
        // New intake works after recovery.
        assert.equal((await postJson(`${again.url}/publish`, makeEvent())).status, 202);
        assert.equal((await waitIdle(again.url)).received, 101);
      } finally {
        await again.kill('SIGKILL');
      }
    } finally {
      await removeDir(dataDir);
    }
  });
});
