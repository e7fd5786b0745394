/**
 * Runs the built CLI (dist/src/cli/main.js) as a child process, and the built server on a
 * port chosen by the test, so a test can kill it and bring it back on the same address.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { launch, MAIN_JS } from '../helpers/server.js';
import { sleep } from '../helpers/tmp.js';

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
export function startCli(args: readonly string[], timeoutMs = 120_000): RunningCli {
  const child = spawn(process.execPath, [CLI_JS, ...args], {
    env: { PATH: process.env.PATH ?? '' },
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

export function runCli(args: readonly string[], timeoutMs?: number): Promise<CliResult> {
  return startCli(args, timeoutMs).done;
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
  const url = `http://127.0.0.1:${port}`;
  const proc = launch({ PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...env });
  let exited = false;
  void proc.exited.then(() => (exited = true));
  let healthy = false;
  for (let i = 0; i < 400 && !exited && !healthy; i++) {
    try {
      healthy = (await fetch(`${url}/healthz`)).status === 200;
    } catch {
      await sleep(25);
    }
  }
  if (!healthy) {
    proc.child.kill('SIGKILL');
    await proc.exited;
    throw new Error(`server on ${url} did not become healthy: ${proc.stderr()}`);
  }
  return {
    url,
    stderr: () => proc.stderr(),
    stop: async (signal = 'SIGKILL') => {
      if (!exited) proc.child.kill(signal);
      await proc.exited;
    },
  };
}
