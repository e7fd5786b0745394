/**
 * `node dist/bench/sqlite-space.js`: does expiry's freed space get reused, and is page reuse
 * (auto_vacuum NONE, what the store ships) or incremental vacuum the better way? The same
 * schema as the store (its migrations), the same statements shape as its apply and expire
 * steps, run in-process: insert batches of 2,000 events with their dedup keys, and after each
 * batch expire the oldest rows above a retained window of 40,000 events. Reports the file
 * sizes at checkpoints and the time spent, for both modes, twice: expiring by row deletes
 * (the store before session 4) and by dropping whole buckets of 20,000 events (buckets.ts,
 * what the store does now).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Statement } from 'better-sqlite3';
import Database from '../src/adapters/sqlite/driver.js';
import { bucketTable, createBucketSql } from '../src/adapters/sqlite/buckets.js';
import { SQLITE_MIGRATIONS } from '../src/adapters/sqlite/migrations.js';
import { dedupKeyHash } from '../src/domain/dedup-key.js';

const STEPS = Number(process.argv[2] ?? 200);
const BATCH = 2_000;
const KEEP = 40_000;
const BUCKET_ROWS = 20_000;

function size(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function run(mode: 'reuse' | 'incremental', by: 'rows' | 'buckets'): void {
  const dir = mkdtempSync(join(tmpdir(), 'logsieve-space-'));
  const file = join(dir, 'events.db');
  const db = new Database(file);
  if (mode === 'incremental') db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.function('logsieve_key', { deterministic: true }, (t: unknown, e: unknown) =>
    dedupKeyHash(String(t), String(e)),
  );
  for (const m of SQLITE_MIGRATIONS) db.exec(m.sql);
  const key = db.prepare(
    'INSERT INTO dedup_keys (key, "offset", first_seen) VALUES (?, ?, 0) ON CONFLICT DO NOTHING',
  );
  const insertInto = (n: number): Statement<[number, string, string, string]> =>
    db.prepare(
      `INSERT INTO ${bucketTable(n)} ("offset", topic, event_id, timestamp, source, payload, processed_at)
       VALUES (?, ?, ?, '2025-10-24T00:00:00.000Z', 'svc', ?, '2026-01-01T00:00:00.000Z')`,
    );
  let row = insertInto(0);
  const deleteUpTo = db.prepare('DELETE FROM events WHERE "offset" <= ?');
  /** Live buckets (n, first offset), oldest first. */
  const buckets: [number, number][] = [[0, 1]];
  const expire = (floor: number): void => {
    if (by === 'rows') {
      deleteUpTo.run(floor);
      return;
    }
    while (buckets.length > 1 && (buckets[1]?.[1] ?? 0) - 1 <= floor) {
      const [n] = buckets.shift() as [number, number];
      db.exec(`DROP TABLE ${bucketTable(n)}`);
    }
  };
  let offset = 0;
  let applyMs = 0;
  let expireMs = 0;
  const samples: string[] = [];
  const payload = JSON.stringify({ user: 'u1', amount: 5, note: 'x'.repeat(120) });
  for (let step = 1; step <= STEPS; step++) {
    let t0 = performance.now();
    const last = buckets.at(-1) as [number, number];
    if (by === 'buckets' && offset - last[1] + 1 >= BUCKET_ROWS) {
      const next: [number, number] = [last[0] + 1, offset + 1];
      db.exec(createBucketSql(next[0]));
      buckets.push(next);
      row = insertInto(next[0]);
    }
    db.transaction(() => {
      for (let i = 0; i < BATCH; i++) {
        const id = randomUUID();
        offset++;
        key.run(dedupKeyHash('orders', id), offset);
        row.run(offset, 'orders', id, payload);
      }
    }).immediate();
    applyMs += performance.now() - t0;
    t0 = performance.now();
    db.transaction(() => {
      expire(offset - KEEP);
      if (mode === 'incremental') db.pragma('incremental_vacuum');
    }).immediate();
    expireMs += performance.now() - t0;
    if (step % Math.max(1, Math.floor(STEPS / 5)) === 0) {
      samples.push(`${(size(file) / 2 ** 20).toFixed(1)}`);
    }
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  const keysMiB =
    (
      db.prepare("SELECT sum(pgsize) AS b FROM dbstat WHERE name = 'dedup_keys'").get() as {
        b: number;
      }
    ).b /
    2 ** 20;
  console.log(
    `${by.padEnd(7)} ${mode.padEnd(11)} ${STEPS * BATCH} events, ${KEEP} retained: events.db MiB at each fifth ` +
      `${samples.join(' ')} (of which dedup_keys ${keysMiB.toFixed(1)} at the end); ` +
      `apply ${(applyMs / STEPS).toFixed(1)} ms/batch, expiry ${(expireMs / STEPS).toFixed(1)} ms/step`,
  );
  db.close();
  rmSync(dir, { recursive: true, force: true });
}

run('reuse', 'rows');
run('incremental', 'rows');
run('reuse', 'buckets');
run('incremental', 'buckets');
