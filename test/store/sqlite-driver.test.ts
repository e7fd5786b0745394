/**
 * The SQLite driver survives the garbage collector on the runtime under test (driver.ts).
 * With better-sqlite3 12 compiled against Node >= 24.19 headers, a statement or iterator
 * that dies young aborts the process ("Assertion failed: (env) != nullptr") when a
 * scavenge started from JIT-compiled code collects it: each child below did so in every
 * run on Node 24.21 before the driver choice. On Node 20 and 22 the children pass either
 * way; the Node 24 CI pass (.ci/node-pass 24) is where this test bites.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { createRequire } from 'node:module';
import { SQLITE_DRIVER } from '../../src/adapters/sqlite/driver.js';

const driverUrl = new URL('../../src/adapters/sqlite/driver.js', import.meta.url).href;

/** Runs `body` 200,000 times next to short-lived JS allocations, in a child on this Node. */
function churn(body: string): { status: number | null; signal: string | null; out: string } {
  const code = `
    import Database from ${JSON.stringify(driverUrl)};
    const db = new Database(':memory:');
    db.exec('CREATE TABLE t (a INTEGER)');
    db.exec('INSERT INTO t VALUES (1), (2), (3)');
    const stmt = db.prepare('SELECT a FROM t');
    let junk = [];
    for (let i = 0; i < 200000; i++) {
      ${body}
      junk.push({ i, s: 'x' + i });
      if (junk.length > 1000) junk = [];
    }
    db.close();
    console.log('survived');
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: r.status, signal: r.signal, out: `${r.stdout}${r.stderr}` };
}

void describe('SQLite driver on this runtime', () => {
  void it('loads better-sqlite3 13 where Node-API 10 exists, 12 elsewhere', () => {
    const require = createRequire(import.meta.url);
    const version = (require(`${SQLITE_DRIVER}/package.json`) as { version: string }).version;
    const napi = Number(process.versions.napi);
    assert.equal(version.split('.')[0], napi >= 10 ? '13' : '12', `Node-API ${napi}`);
  });

  for (const [name, body] of [
    ['throwaway statements', "db.prepare('SELECT 1').get();"],
    ['iterators left early', 'for (const row of stmt.iterate()) { if (row) break; }'],
    ['iterators run to the end', 'for (const row of stmt.iterate()) { void row; }'],
  ] as const) {
    void it(`${name} collected by the GC do not abort the process`, () => {
      const r = churn(body);
      assert.equal(r.signal, null, `killed by ${r.signal}: ${r.out.slice(0, 400)}`);
      assert.equal(r.status, 0, r.out.slice(0, 400));
      assert.match(r.out, /survived/);
    });
  }
});
