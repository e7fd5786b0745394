#!/usr/bin/env node
/**
 * The `logsieve` command: `publish`, `stats`, `start`, `recover`. Only this file touches `process`
 * (argv, stdio, signals, exit status, LOGSIEVE_API_KEY); the commands take them as parameters.
 */
import { UsageError } from './args.js';
import { publishCommand, PUBLISH_HELP, type Io } from './publish.js';
import { recoverCommand, RECOVER_HELP } from './recover.js';
import { statsCommand, STATS_HELP } from './stats.js';

/** LOGSIEVE_API_KEY, the key publish and stats send without --api-key; blank is none. */
const envApiKey = (value: string | undefined): { envApiKey?: string } => {
  const key = value?.trim();
  return key === undefined || key === '' ? {} : { envApiKey: key };
};

const HELP = `Usage: logsieve <command> [options]

Commands:
  publish   generate events, send them with retries, report and verify against /stats
  stats     print the aggregator's /stats
  start     run the aggregator (same flags and environment as \`npm start\`)
  recover   salvage a damaged embedded queue log (aggregator stopped)

Run \`logsieve <command> --help\` for a command's options.
`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === 'start') {
    // Loaded lazily: publish and stats should not pay for the server's dependencies.
    const { runServer } = await import('../run.js');
    await runServer(rest);
    return -1; // the server sets process.exitCode itself when it stops
  }
  const controller = new AbortController();
  let interrupted = false;
  const onSigint = (): void => {
    // First Ctrl-C: stop sending and still print the report; second: leave now.
    if (interrupted) process.exit(130);
    interrupted = true;
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const io: Io = {
    stdout: process.stdout,
    stderr: process.stderr,
    signal: controller.signal,
    ...envApiKey(process.env.LOGSIEVE_API_KEY),
  };
  try {
    switch (command) {
      case 'publish':
        if (wantsHelp) {
          process.stdout.write(PUBLISH_HELP);
          return 0;
        }
        return await publishCommand(rest, io);
      case 'stats':
        if (wantsHelp) {
          process.stdout.write(STATS_HELP);
          return 0;
        }
        return await statsCommand(rest, io);
      case 'recover':
        if (wantsHelp) {
          process.stdout.write(RECOVER_HELP);
          return 0;
        }
        return await recoverCommand(rest, io);
      default:
        throw new UsageError(`unknown command "${command}"\n\n${HELP}`);
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
}

try {
  const status = await main(process.argv.slice(2));
  if (status >= 0) process.exitCode = status;
} catch (err) {
  // parseArgs throws TypeErrors with an ERR_PARSE_ARGS_* code for unknown or malformed flags.
  const code = (err as { code?: unknown }).code;
  if (
    err instanceof UsageError ||
    (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))
  ) {
    process.stderr.write(`logsieve: ${(err as Error).message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(
      `logsieve: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  }
}
