/**
 * Runs the built CLI (dist/src/cli/main.js) as a child process, and the built server on a
 * port chosen by the test, so a test can kill it and bring it back on the same address.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MAIN_JS, spawnServer } from '../helpers/server.js';

/** dist/test/cli/support.js -> dist/src/cli/main.js */
export const CLI_JS = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
export const SERVER_BUILT = existsSync(MAIN_JS);

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunningCli {
  readonly done: Promise<CliResult>;
}

/** Starts the CLI; it is killed if it outlives `timeoutMs`. */
export function startCli(
  args: readonly string[],
  timeoutMs = 120_000,
  env: Record<string, string> = {},
): RunningCli {
  const child = spawn(process.execPath, [CLI_JS, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<CliResult>((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { done };
}

export function runCli(
  args: readonly string[],
  timeoutMs?: number,
  env?: Record<string, string>,
): Promise<CliResult> {
  return startCli(args, timeoutMs, env).done;
}

export interface PortServer {
  readonly url: string;
  /** SIGKILL (default) or SIGTERM, resolved when the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  stderr(): string;
}

/** The built server on `port` with `dataDir`, healthy on return (bounded wait). */
export async function serveOn(
  port: number,
  dataDir: string,
  env: Record<string, string> = {},
): Promise<PortServer> {
  const server = await spawnServer({ LOG_LEVEL: 'warn', ...env, DATA_DIR: dataDir }, { port });
  return {
    url: server.url,
    stderr: () => server.stderr(),
    stop: async (signal = 'SIGKILL') => {
      await server.kill(signal);
    },
  };
}
