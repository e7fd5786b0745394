/**
 * `logsieve recover --data-dir DIR`: salvage a damaged embedded queue log while the
 * aggregator is stopped (see src/adapters/log/salvage.ts for what it does and guarantees).
 * Exit status: 0 when the log is readable afterwards (whether or not anything was lost),
 * 1 when recovery itself failed (nothing is half-done: every step is an atomic rename).
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeSegment, salvageQueueLog } from '../adapters/log/salvage.js';
import { openSqliteStore } from '../adapters/sqlite/store.js';
import type { Io } from './publish.js';

export const RECOVER_HELP = `Usage: logsieve recover [--data-dir DIR]

Salvages a damaged embedded queue log (DIR/queue, DIR defaults to ./data) while the
aggregator is STOPPED: keeps every intact record, moves each damaged segment aside to
DIR/queue-damaged/ (it is never deleted) and prints how many records could not be read.
Run it when start-up stops with "queue log ... is damaged at byte N".
`;

export async function recoverCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: { 'data-dir': { type: 'string', default: './data' } },
  });
  const dataDir = values['data-dir'];
  const queueDir = join(dataDir, 'queue');
  try {
    await access(queueDir);
  } catch {
    io.stderr.write(`logsieve recover: no queue log at ${queueDir}\n`);
    return 1;
  }
  const dbFile = join(dataDir, 'events.db');
  const hasDb = await access(dbFile).then(
    () => true,
    () => false,
  );
  // The store knows which records were applied already (those are not lost). Opening it
  // takes its exclusive lock, so recover refuses to run beside a live aggregator.
  let store: ReturnType<typeof openSqliteStore> | null = null;
  try {
    store = hasDb ? openSqliteStore({ file: dbFile }) : null;
    const report = await salvageQueueLog(
      queueDir,
      store ?? { isApplied: () => false, maxAppliedSeq: () => 0 },
      new Date(),
    );
    const out: string[] = [];
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
    io.stdout.write(out.join('\n') + '\n');
    return 0;
  } catch (err) {
    io.stderr.write(`logsieve recover: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    await store?.close();
  }
}
