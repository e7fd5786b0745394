/**
 * README's Node.js OpenTelemetry SDK block, run as it is written (only its URL pointed at a
 * test server): a copy-paste example that does not work is a bug. Found by an outside probe:
 * the block ended before the batch processor's first export, and sent nothing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startApp, type TestApp } from '../helpers/app.js';
import { allEvents, waitIdle } from '../helpers/http.js';

/** dist/test/otlp/ -> the package root (README.md; node_modules resolves from dist/). */
const ROOT = new URL('../../../', import.meta.url);
const KEY = 'readme-sdk-key-0123456789';

/** The fenced block that follows the README line starting with `lead`. */
async function readmeBlock(lead: string): Promise<string> {
  const text = await readFile(new URL('README.md', ROOT), 'utf8');
  const at = text.indexOf(lead);
  assert.ok(at >= 0, `README has "${lead}"`);
  const open = text.indexOf('```js\n', at);
  const close = text.indexOf('\n```', open + 6);
  assert.ok(open > at && close > open, 'a js block follows');
  return text.slice(open + 6, close + 1);
}

void describe("README's Node.js OpenTelemetry SDK example", () => {
  let t: TestApp;
  before(async () => {
    // Writes need the key (the block sends it); reads stay open for the checks below.
    t = await startApp({ API_KEYS: KEY, PUBLIC_READS: 'true' });
  });
  after(() => t.close());

  void it('sends its record, and the record is stored under its service', async () => {
    const block = await readmeBlock('In Node.js, in code');
    assert.ok(block.includes("url: 'http://logsieve:8080/v1/logs'"), block);
    const script = block.replace('http://logsieve:8080', t.url);
    const file = fileURLToPath(new URL(`dist/readme-sdk-${randomUUID()}.mjs`, ROOT));
    await writeFile(file, script);
    try {
      const code = await new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, [file], {
          env: { PATH: process.env.PATH ?? '', LOGSIEVE_API_KEY: KEY },
          stdio: 'inherit',
        });
        child.once('close', resolve);
      });
      assert.equal(code, 0);
    } finally {
      await rm(file, { force: true });
    }
    await waitIdle(t.url, 10_000);
    const rows = await allEvents(t.url, { topic: 'checkout' });
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.payload.body, 'order placed');
    assert.match(rows[0]?.event_id ?? '', /^sha256:[0-9a-f]{64}$/);
  });
});
