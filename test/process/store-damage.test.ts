/**
 * A damaged store (DATA_DIR/events.db) at the process level, as SPEC "Damage is never
 * silent" asks: damage on a page start-up reads stops start-up with one line naming the file
 * and page; damage elsewhere is found by the check after start (or the first read reaching
 * it): /healthz fails, the log names it, reads over it fail instead of answering without the
 * rows, and the next start stops with the same line (src/adapters/sqlite/damage.ts). Then
 * `logsieve recover` salvages every intact record (src/adapters/sqlite/salvage.ts; the cases
 * of each table are in test/store/sqlite-salvage.test.ts).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from '../../src/adapters/sqlite/driver.js';
import { runCli } from '../cli/support.js';
import { makeEvent } from '../helpers/events.js';
import { postJson, waitIdle } from '../helpers/http.js';
import { launch, spawnServer } from '../helpers/server.js';
import { freePort, makeDataDir, removeDir, sleep } from '../helpers/tmp.js';

/** A store of `n` events, stopped cleanly; returns the database file. */
async function storeOf(dataDir: string, n: number): Promise<string> {
  return (await storeWith(dataDir, n)).file;
}

async function storeWith(
  dataDir: string,
  n: number,
): Promise<{ file: string; events: ReturnType<typeof makeEvent>[] }> {
  const server = await spawnServer({ DATA_DIR: dataDir });
  const events = Array.from({ length: n }, (_, i) =>
    makeEvent({ topic: 'dmg', payload: { i, text: 'abracadabra'.repeat(20) } }),
  );
  for (let i = 0; i < n; i += 500) {
    assert.equal((await postJson(`${server.url}/publish`, events.slice(i, i + 500))).status, 202);
  }
  await waitIdle(server.url);
  assert.equal((await server.kill('SIGTERM')).code, 0);
  return { file: join(dataDir, 'events.db'), events };
}

/** Zeroes page `page` (1-based) of `file` after folding the WAL in; returns the new bytes. */
async function zeroPage(file: string, pick: (db: InstanceType<typeof Database>) => number) {
  const db = new Database(file);
  let page: number;
  let size: number;
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
    page = pick(db);
    size = db.pragma('page_size', { simple: true }) as number;
  } finally {
    db.close();
  }
  const bytes = await readFile(file);
  bytes.fill(0, (page - 1) * size, page * size);
  await writeFile(file, bytes);
  return { page, bytes };
}

/** Folds the WAL into `file`, then changes the one occurrence of `from` into `to`. */
async function alter(file: string, from: string, to: string): Promise<void> {
  const db = new Database(file);
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  const bytes = await readFile(file);
  const at = bytes.indexOf(from);
  assert.ok(at >= 0 && bytes.indexOf(from, at + 1) < 0, `one ${from} in ${file}`);
  bytes.write(to, at, 'latin1');
  await writeFile(file, bytes);
}

/** Polls /healthz at `url` until it fails (bounded); returns its body. */
async function failedHealth(url: string): Promise<unknown> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const res = await fetch(`${url}/healthz`).catch(() => null);
    if (res?.status === 503) return res.json();
    await sleep(50);
  }
  return null;
}

/** Exactly one error line names damage, and it is a row's (at an offset). */
async function rowDamageLogged(proc: { stdout(): string }): Promise<void> {
  const logged = await damageLogged(proc);
  assert.equal(logged.length, 1, proc.stdout());
  assert.match(logged[0] ?? '', /is damaged at offset \d+ /);
}

/** Launches the server, which must refuse to start: exit 1 and one line; returns it. */
async function refusedLine(dataDir: string): Promise<string> {
  const proc = launch({ DATA_DIR: dataDir, PORT: String(await freePort()) });
  let timer: NodeJS.Timeout | undefined;
  const started = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      proc.child.kill('SIGKILL');
      reject(new Error(`the server started on a damaged store: ${proc.stdout()}`));
    }, 20_000);
  });
  try {
    const exit = await Promise.race([proc.exited, started]);
    const lines = proc.stderr().trimEnd().split('\n');
    assert.equal(exit.code, 1);
    assert.equal(lines.length, 1, lines.join('\n'));
    return lines[0] ?? '';
  } finally {
    clearTimeout(timer);
  }
}

/** The error lines of `proc` that name damage, once one is there (the log is asynchronous). */
async function damageLogged(proc: { stdout(): string }): Promise<string[]> {
  const lines = (): string[] =>
    proc
      .stdout()
      .split('\n')
      .filter((l) => l.includes('is damaged'));
  for (let i = 0; i < 200 && lines().length === 0; i++) await sleep(25);
  return lines();
}

void describe('a damaged store', () => {
  void it('a page start-up reads: start-up stops with one line naming the file and the page', async () => {
    const dataDir = await makeDataDir('logsieve-store-damage');
    try {
      const file = await storeOf(dataDir, 200);
      const { page, bytes } = await zeroPage(
        file,
        (db) =>
          db
            .prepare<[], number>(`SELECT rootpage FROM sqlite_schema WHERE name = 'counters'`)
            .pluck()
            .get() ?? 0,
      );
      const line = await refusedLine(dataDir);
      assert.ok(line.startsWith(`cannot start: store ${file} is damaged at page ${page} `), line);
      assert.match(line, /Damage \(embedded store\)/);
      assert.deepEqual(await readFile(file), bytes, 'start-up changed nothing');
    } finally {
      await removeDir(dataDir);
    }
  });

  void it('a page start-up does not read: /healthz fails, reads over it fail, the next start stops', async () => {
    const dataDir = await makeDataDir('logsieve-store-damage');
    try {
      const file = await storeOf(dataDir, 2_000);
      // A leaf of the events table in the middle of the offsets.
      const { page } = await zeroPage(
        file,
        (db) =>
          db
            .prepare<[], number>(
              `SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = 'leaf' ORDER BY pageno LIMIT 1 OFFSET 20`,
            )
            .pluck()
            .get() ?? 0,
      );
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const proc = launch({ DATA_DIR: dataDir, PORT: String(port) });
      const health = await failedHealth(url);
      try {
        assert.deepEqual(health, {
          status: 'failed',
          checks: { queue_log: true, store_thread: true, store: false },
        });
        const logged = await damageLogged(proc);
        assert.equal(logged.length, 1, proc.stdout());
        assert.ok(logged[0]?.includes(`store ${file} is damaged at page ${page} `), logged[0]);
        // Paging over the damaged rows fails; it never answers as if they did not exist.
        let failed = false;
        for (let after = 0; after < 2_000 && !failed; after += 500) {
          const res = await fetch(`${url}/events?topic=dmg&limit=500&after=${after}`);
          if (res.status === 500) failed = true;
          else assert.equal(((await res.json()) as unknown[]).length, 500, `page after ${after}`);
        }
        assert.ok(failed, 'a page over the damaged rows failed');
        assert.ok(existsSync(`${file}-damaged`));
      } finally {
        proc.child.kill('SIGTERM');
        await proc.exited;
      }
      const before = await readFile(file);
      const line = await refusedLine(dataDir);
      assert.ok(line.startsWith(`cannot start: store ${file} is damaged at page ${page} `), line);
      assert.deepEqual(await readFile(file), before, 'the refused start changed nothing');
    } finally {
      await removeDir(dataDir);
    }
  });

  void it('a byte changed inside a stored payload: never served changed; /healthz fails; the next start stops', async () => {
    const dataDir = await makeDataDir('logsieve-store-damage');
    try {
      const { file, events } = await storeWith(dataDir, 200);
      // The page still parses: only the row's checksum can tell (quick_check finds nothing).
      await alter(file, '{"i":57,', '{"i":58,');
      const target = events[57];
      assert.ok(target !== undefined);
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const proc = launch({ DATA_DIR: dataDir, PORT: String(port) });
      try {
        assert.deepEqual(await failedHealth(url), {
          status: 'failed',
          checks: { queue_log: true, store_thread: true, store: false },
        });
        const one = await fetch(`${url}/events/dmg/${encodeURIComponent(target.event_id)}`);
        assert.equal(one.status, 500, 'the changed event is not served');
        const page = await fetch(`${url}/events?topic=dmg&limit=200`);
        assert.equal(page.status, 500, 'nor is a page holding it');
        const other = events[10];
        assert.ok(other !== undefined);
        const fine = await fetch(`${url}/events/dmg/${encodeURIComponent(other.event_id)}`);
        assert.equal(fine.status, 200, 'the intact events are still served');
        await rowDamageLogged(proc);
      } finally {
        proc.child.kill('SIGTERM');
        await proc.exited;
      }
      assert.match(
        await refusedLine(dataDir),
        /^cannot start: store .*events\.db is damaged at offset \d+ \(the row at offset \d+ of table events does not match its checksum\)/,
      );
    } finally {
      await removeDir(dataDir);
    }
  });

  void it('damage after the check after start, where no read reaches: the next check finds it (STORE_CHECK_INTERVAL)', async () => {
    const dataDir = await makeDataDir('logsieve-store-damage');
    try {
      const { file } = await storeWith(dataDir, 200);
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const proc = launch({
        DATA_DIR: dataDir,
        PORT: String(port),
        STORE_CHECK_INTERVAL: '1s',
        LOG_LEVEL: 'info',
      });
      try {
        const passed = (): number =>
          proc
            .stdout()
            .split('\n')
            .filter((l) => l.includes('store check found no damage')).length;
        for (let i = 0; i < 400 && passed() === 0; i++) await sleep(25);
        assert.ok(passed() > 0, proc.stdout());
        assert.equal((await fetch(`${url}/healthz`)).status, 200);
        // A payload byte of an old event nobody reads, changed under the running aggregator.
        await alter(file, '{"i":57,', '{"i":58,');
        assert.deepEqual(await failedHealth(url), {
          status: 'failed',
          checks: { queue_log: true, store_thread: true, store: false },
        });
        await rowDamageLogged(proc);
      } finally {
        proc.child.kill('SIGTERM');
        await proc.exited;
      }
    } finally {
      await removeDir(dataDir);
    }
  });

  void it('an index entry changed (rows the table still has): the check finds it; the next start stops', async () => {
    const dataDir = await makeDataDir('logsieve-store-damage');
    try {
      const file = await storeOf(dataDir, 2_000);
      // One topic entry of the (topic, offset) index, on a leaf page that still parses: a
      // filtered read would stop at the out-of-order key and skip the rest, without an error.
      const db = new Database(file);
      let at: number;
      let end: number;
      try {
        db.pragma('wal_checkpoint(TRUNCATE)');
        const page =
          db
            .prepare<[], number>(
              `SELECT pageno FROM dbstat WHERE name = 'events_by_topic' AND pagetype = 'leaf' ORDER BY pageno LIMIT 1 OFFSET 2`,
            )
            .pluck()
            .get() ?? 0;
        const size = db.pragma('page_size', { simple: true }) as number;
        at = (page - 1) * size;
        end = at + size;
      } finally {
        db.close();
      }
      const bytes = await readFile(file);
      const hit = bytes.indexOf('dmg', at + 100);
      assert.ok(hit > at && hit < end, 'an index entry on that page');
      bytes.write('dmh', hit, 'latin1');
      await writeFile(file, bytes);
      const port = await freePort();
      const proc = launch({ DATA_DIR: dataDir, PORT: String(port) });
      try {
        assert.deepEqual(await failedHealth(`http://127.0.0.1:${port}`), {
          status: 'failed',
          checks: { queue_log: true, store_thread: true, store: false },
        });
        const logged = await damageLogged(proc);
        assert.equal(logged.length, 1, proc.stdout());
        assert.match(logged[0] ?? '', /events_by_topic/);
      } finally {
        proc.child.kill('SIGTERM');
        await proc.exited;
      }
      assert.match(
        await refusedLine(dataDir),
        /^cannot start: store .*events\.db is damaged .*events_by_topic/,
      );
    } finally {
      await removeDir(dataDir);
    }
  });
  void it('logsieve recover after a refused start: every intact event served again; the lost ones stored again when republished', async () => {
    const dataDir = await makeDataDir('logsieve-store-damage');
    try {
      const { file, events } = await storeWith(dataDir, 2_000);
      // The rows of one events leaf, and the applied positions, which start-up reads.
      for (const name of ['events', 'applied_ranges']) {
        await zeroPage(
          file,
          (db) =>
            db
              .prepare<[string, number], number>(
                `SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno LIMIT 1 OFFSET ?`,
              )
              .pluck()
              .get(name, name === 'events' ? 30 : 0) ?? 0,
        );
      }
      const line = await refusedLine(dataDir);
      assert.match(line, new RegExp(`Run "logsieve recover --data-dir ${dataDir}"`));
      const recovered = await runCli(['recover', '--data-dir', dataDir]);
      assert.equal(recovered.code, 0, recovered.stderr);
      const lost = /could not read (\d+) \(offsets (\d+)-(\d+)\)/.exec(recovered.stdout);
      assert.ok(lost !== null, recovered.stdout);
      const [count, from, to] = [Number(lost[1]), Number(lost[2]), Number(lost[3])];
      assert.equal(count, to - from + 1);
      assert.ok(count > 0 && count < 40, recovered.stdout);
      assert.match(recovered.stdout, /could not read all of applied_ranges: rebuilt/);
      assert.match(recovered.stdout, /the damaged store is kept at .*store-damaged/);
      assert.match(recovered.stdout, /no damage found in 1 segment\(s\)/);
      const server = await spawnServer({ DATA_DIR: dataDir });
      try {
        assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
        const stats = (await (await fetch(`${server.url}/stats`)).json()) as Record<string, number>;
        assert.equal(stats.unique_processed, 2_000);
        assert.equal(stats.stored, 2_000 - count);
        assert.equal(stats.expired, count);
        const page = await fetch(`${server.url}/events?topic=dmg&limit=2000`);
        const served = (await page.json()) as {
          offset: number;
          event_id: string;
          payload: unknown;
        }[];
        assert.equal(served.length, 2_000 - count);
        // Offsets are the store's rowids from 1, in publish order here: the lost are from-to.
        const byId = new Map(events.map((e, i) => [e.event_id, { e, offset: i + 1 }]));
        for (const s of served) {
          const original = byId.get(s.event_id);
          assert.ok(original !== undefined && original.offset === s.offset, s.event_id);
          assert.ok(s.offset < from || s.offset > to, `offset ${s.offset} was reported lost`);
          assert.deepEqual(s.payload, original.e.payload);
        }
        for (let i = 0; i < 2_000; i += 500) {
          const res = await postJson(`${server.url}/publish`, events.slice(i, i + 500));
          assert.equal(res.status, 202);
        }
        await waitIdle(server.url);
        const after = (await (await fetch(`${server.url}/stats`)).json()) as Record<string, number>;
        assert.equal(after.stored, 2_000, 'the lost events are stored again');
        assert.equal(after.duplicate_dropped, 2_000 - count);
      } finally {
        await server.kill('SIGTERM');
      }
    } finally {
      await removeDir(dataDir);
    }
  });
});
