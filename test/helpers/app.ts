/**
 * In-process aggregator for tests: buildApp(loadConfig([], env)) on a fresh temp DATA_DIR,
 * listening on a free loopback port, with a pino logger whose lines are captured in memory
 * so a test can assert what was logged (every dropped duplicate, with topic and event_id).
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { makeDataDir, removeDir } from './tmp.js';

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly topic?: string;
  readonly event_id?: string;
  readonly [key: string]: unknown;
}

export interface TestApp {
  readonly app: App;
  readonly url: string;
  readonly dataDir: string;
  /** Every log line at info or above, parsed. */
  readonly logs: LogLine[];
  /** The `duplicate dropped` lines among `logs`. */
  duplicateLogs(): LogLine[];
  /** Closes the app (drain) and removes the data dir unless `keepDir`. */
  close(opts?: { keepDir?: boolean }): Promise<void>;
}

export interface StartOptions {
  /** Reuse a data dir (restart); by default a fresh one is made. */
  readonly dataDir?: string;
}

/** Collects newline-delimited JSON log lines into `into`. */
function captureStream(into: LogLine[]): Writable {
  let pending = '';
  return new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      pending += chunk.toString();
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.length > 0) into.push(JSON.parse(line) as LogLine);
        nl = pending.indexOf('\n');
      }
      callback();
    },
  });
}

export async function startApp(
  env: Record<string, string> = {},
  opts: StartOptions = {},
): Promise<TestApp> {
  const dataDir = opts.dataDir ?? (await makeDataDir());
  const config = loadConfig([], { PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, ...env });
  const logs: LogLine[] = [];
  const logger = pino({ level: 'info' }, captureStream(logs));
  let app: App;
  try {
    app = await buildApp(config, { logger });
  } catch (err) {
    if (opts.dataDir === undefined) await removeDir(dataDir);
    throw err;
  }
  const url = await app.listen();
  return {
    app,
    url,
    dataDir,
    logs,
    duplicateLogs: () => logs.filter((l) => l.msg.startsWith('duplicate dropped')),
    close: async ({ keepDir = false } = {}) => {
      await app.close();
      if (!keepDir) await removeDir(dataDir);
    },
  };
}
