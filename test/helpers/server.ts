/**
 * The BUILT server (dist/src/main.js) as a child process on a free loopback port, for
 * process-level tests: SIGTERM/SIGKILL, restart on the same DATA_DIR, exit codes, stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, sleep } from './tmp.js';

/** dist/test/helpers/server.js -> dist/src/main.js */
export const MAIN_JS = fileURLToPath(new URL('../../src/main.js', import.meta.url));

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SpawnedServer {
  readonly url: string;
  readonly dataDir: string;
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  readonly exited: Promise<Exit>;
  /** Sends `signal` and resolves when the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<Exit>;
  /** A new server process on the same DATA_DIR and env (call after kill). */
  restart(): Promise<SpawnedServer>;
}

interface Launched {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  stdout(): string;
  stderr(): string;
}

/** Spawns the built server without waiting for it (for start-up failure tests). */
export function launch(env: Record<string, string>): Launched {
  const child = spawn(process.execPath, [MAIN_JS], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, exited, stdout: () => out, stderr: () => err };
}

/** Spawns the server (on a free port unless one is given) and waits (bounded) until /healthz answers 200. */
export async function spawnServer(
  env: Record<string, string> & { DATA_DIR: string },
  opts: { readonly port?: number } = {},
): Promise<SpawnedServer> {
  const port = opts.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const proc = launch({ ...env, PORT: String(port) });
  let exit: Exit | null = null;
  void proc.exited.then((e) => (exit = e));
  let healthy = false;
  for (let i = 0; i < 400 && exit === null && !healthy; i++) {
    try {
      healthy = (await fetch(`${url}/healthz`)).status === 200;
    } catch {
      await sleep(25);
    }
  }
  if (!healthy) {
    proc.child.kill('SIGKILL');
    await proc.exited;
    throw new Error(`server did not become healthy: ${proc.stderr()}${proc.stdout()}`);
  }
  const server: SpawnedServer = {
    url,
    dataDir: env.DATA_DIR,
    child: proc.child,
    stdout: () => proc.stdout(),
    stderr: () => proc.stderr(),
    exited: proc.exited,
    kill: (signal = 'SIGTERM') => {
      if (exit === null) proc.child.kill(signal);
      return proc.exited;
    },
    restart: () => spawnServer(env, opts),
  };
  return server;
}
