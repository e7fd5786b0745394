/**
 * `logsieve recover --data-dir DIR`: salvage a damaged embedded store and queue log while the
 * aggregator is stopped (src/adapters/sqlite/salvage.ts and src/adapters/log/salvage.ts say
 * what each does and guarantees). The store goes first: the queue's salvage asks it which
 * records were applied, and the store's salvage reads the log when it must rebuild them.
 * Exit status: 0 when both are readable afterwards (whether or not anything was lost), 1 when
 * recovery itself failed (nothing is half-done: every step is an atomic rename).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeSegment, queueLogView, salvageQueueLog } from '../adapters/log/salvage.js';
import { salvageStore, type StoreSalvageReport } from '../adapters/sqlite/salvage.js';
import { openSqliteStore } from '../adapters/sqlite/store.js';
import { DEDUP_KEY_BYTES, DEDUP_KEY_PREFIX_BYTES } from '../domain/dedup-key.js';
import type { Io } from './publish.js';

export const RECOVER_HELP = `Usage: logsieve recover [--data-dir DIR]

Salvages a damaged embedded store (DIR/events.db) and queue log (DIR/queue), DIR
defaulting to ./data, while the aggregator is STOPPED. Run it when start-up stops with
"store ... is damaged" or "queue log ... is damaged at byte N".

The store is checked in full (every table and index, every event row's checksum); when it is
damaged, a new store is built from every intact record, the damaged file is moved to
DIR/store-damaged/ (never deleted) and what could not be read is printed: the offsets of the
events lost, the dedup keys that could not be read, the tables rebuilt from the rest. Then
every damaged queue log segment is rebuilt from its intact records and moved to
DIR/queue-damaged/, and the records that could not be read are counted.
Exit status: 0 when both are readable afterwards (whether or not anything was lost), 1 when
recovery itself failed (nothing is half-done: each step is an atomic rename).
`;

export async function recoverCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: { 'data-dir': { type: 'string', default: './data' } },
  });
  const dataDir = values['data-dir'];
  const queueDir = join(dataDir, 'queue');
  const dbFile = join(dataDir, 'events.db');
  const hasQueue = existsSync(queueDir);
  const hasDb = existsSync(dbFile) || existsSync(`${dbFile}.salvaged`);
  if (!hasQueue && !hasDb) {
    io.stderr.write(`logsieve recover: no store or queue log in ${dataDir}\n`);
    return 1;
  }
  let store: ReturnType<typeof openSqliteStore> | null = null;
  try {
    const out: string[] = [];
    if (hasDb) {
      const queue = hasQueue ? await queueLogView(queueDir) : null;
      out.push(...describeStoreSalvage(dbFile, await salvageStore(dbFile, new Date(), queue)));
    }
    // The store knows which records were applied already (those are not lost). Opening it
    // takes its exclusive lock, so recover refuses to run beside a live aggregator.
    store = hasDb ? openSqliteStore({ file: dbFile }) : null;
    if (hasQueue) {
      const report = await salvageQueueLog(
        queueDir,
        store ?? { isApplied: () => false, maxAppliedSeq: () => 0 },
        new Date(),
      );
      if (report.segments.length === 0) {
        out.push(`no damage found in ${report.segmentsChecked} segment(s) of ${queueDir}`);
      } else {
        for (const s of report.segments) out.push(describeSegment(s));
        out.push(
          `salvaged ${report.salvaged} record(s); could not read ${report.unreadable} record(s)` +
            ` that were not yet stored (${report.alreadyStored} more in damaged regions were stored already)`,
        );
        if (report.uncountedBytes > 0) {
          out.push(
            `and ${report.uncountedBytes} damaged byte(s) at the end of the newest segment hold records that cannot be counted`,
          );
        }
      }
    }
    io.stdout.write(out.join('\n') + '\n');
    return 0;
  } catch (err) {
    io.stderr.write(`logsieve recover: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    await store?.close();
  }
}

/** Ranges as "3-7, 12" (at most `max` of them, then how many more). */
function ranges(list: readonly (readonly [number | bigint, number | bigint])[], max = 10): string {
  const shown = list.slice(0, max).map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`));
  if (list.length > max) shown.push(`and ${list.length - max} more range(s)`);
  return shown.join(', ');
}

/** The event id prefix a dedup key starts with (src/domain/dedup-key.ts), as JSON. */
function idPrefix(key: bigint): string {
  const hex = key.toString(16).padStart(DEDUP_KEY_BYTES * 2, '0');
  const prefix = Buffer.from(hex.slice(0, DEDUP_KEY_PREFIX_BYTES * 2), 'hex');
  return JSON.stringify(prefix.toString('utf8').replace(/\0+$/, ''));
}

export function describeStoreSalvage(file: string, r: StoreSalvageReport): string[] {
  if (r.damage === null) return [`no damage found in store ${file}`];
  const lost = r.eventsLost.reduce((n, [a, b]) => n + b - a + 1, 0);
  // A finding recorded by the aggregator is its whole line: the file and the advice to run
  // this command are said already.
  const found = r.damage
    .replace(`store ${file} is `, '')
    .replace(/\. Run "logsieve recover[\s\S]*$/, '');
  const lines = [
    `store ${file}: ${found}`,
    `salvaged ${r.eventsCopied} stored event(s); could not read ${lost}` +
      (lost > 0 ? ` (offsets ${ranges(r.eventsLost)})` : '') +
      (r.eventsUnchecked > 0
        ? `; ${r.eventsUnchecked} stored before row checksums were copied unverified`
        : ''),
    `kept ${r.keysCopied} dedup key(s)` +
      (r.keySpansLost.length > 0
        ? `; could not read the keys of ${r.keySpansLost.length} span(s) of event ids (` +
          r.keySpansLost
            .slice(0, 5)
            .map((s) => `from ${idPrefix(s.from)} to ${idPrefix(s.to)}`)
            .join(', ') +
          '): an expired event whose key was there is stored again if it is published again'
        : ''),
  ];
  if (r.rebuilt.length > 0) {
    lines.push(
      `could not read all of ${r.rebuilt.join(', ')}: rebuilt from the rest (README, "Damage (embedded store)")`,
    );
  }
  if (lost > 0) {
    lines.push(
      `the ${lost} event(s) lost are counted as expired in /stats, and their dedup keys are dropped: publishing them again stores them again`,
    );
  }
  if (r.countsOffBy !== 0) {
    lines.push(
      `unique_processed + duplicate_dropped differ by ${r.countsOffBy} from the deliveries taken as applied: the /stats invariant stays off by as much`,
    );
  }
  if (r.movedTo !== null) lines.push(`the damaged store is kept at ${r.movedTo}`);
  return lines;
}
