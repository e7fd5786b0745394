/** `logsieve stats`: GET /stats, printed for people (or as JSON with --json). */
import { parseArgs } from 'node:util';
import { Publisher } from '../client/publisher.js';
import type { ServerStats } from '../client/types.js';
import { invariantHolds } from '../domain/stats.js';
import { urlList } from './args.js';
import { apiKeyOf, type Io } from './publish.js';

export const STATS_HELP = `Usage: logsieve stats [--url URL ...] [--api-key K (or $LOGSIEVE_API_KEY)] [--json]
`;

export function formatStats(s: ServerStats): string {
  const n = (x: number): string => x.toLocaleString('en-US');
  const processed = s.unique_processed + s.duplicate_dropped;
  const dupPct =
    processed > 0
      ? ` (${((100 * s.duplicate_dropped) / processed).toFixed(1)} % of processed)`
      : '';
  const holds = invariantHolds(s);
  return (
    [
      `mode         ${s.mode}, ${s.workers} worker(s)`,
      `uptime       ${s.uptime_seconds.toFixed(1)} s (since ${s.started_at})`,
      `received     ${n(s.received)}`,
      `unique       ${n(s.unique_processed)}`,
      `duplicates   ${n(s.duplicate_dropped)}${dupPct}`,
      `queue depth  ${n(s.queue_depth)}`,
      ...(s.rejected === undefined ? [] : [`rejected     ${n(s.rejected)} request(s)`]),
      `topics       ${s.topics.length === 0 ? '-' : s.topics.join(', ')}`,
      `invariant    ${holds ? 'ok' : 'MISMATCH'}: received = unique + duplicates + queue depth`,
    ].join('\n') + '\n'
  );
}

export async function statsCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      url: { type: 'string', multiple: true },
      'api-key': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const publisher = new Publisher({
    url: urlList(values.url),
    requestTimeoutMs: 5_000,
    ...apiKeyOf(values['api-key'], io),
  });
  try {
    const stats = await publisher.fetchStats();
    io.stdout.write(values.json ? JSON.stringify(stats, null, 2) + '\n' : formatStats(stats));
    return 0;
  } catch (err) {
    io.stderr.write(`logsieve stats: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    await publisher.close().catch(() => undefined);
  }
}
