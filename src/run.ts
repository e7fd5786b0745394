/** Runs the aggregator as a process: config, logger, listen, signals. */
import pino from 'pino';
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';

const LOG_BUFFER_BYTES = 4_096;
const LOG_FLUSH_MS = 50;
const UNUSABLE_HOST = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EADDRNOTAVAIL']);

export async function runServer(argv: readonly string[]): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  // Asynchronous destination: duplicate-drop lines never block the event loop. Buffered up
  // to LOG_BUFFER_BYTES and flushed at least every LOG_FLUSH_MS: every write is a
  // thread-pool hop, and under W2 writing each consumer batch's lines at once took as much
  // main-thread time as the queue log's own durable writes. pino flushes the rest at exit.
  const logger = pino(
    { level: config.logLevel },
    pino.destination({ sync: false, minLength: LOG_BUFFER_BYTES, periodicFlush: LOG_FLUSH_MS }),
  );
  let app;
  try {
    app = await buildApp(config, { logger });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exitCode = 2;
      return;
    }
    console.error(`cannot start: ${(err as Error).message}`);
    process.exitCode = 1;
    return;
  }
  let url: string;
  try {
    url = await app.listen();
  } catch (err) {
    await app.close().catch(() => undefined);
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && UNUSABLE_HOST.has(code)) {
      // A name that does not resolve, or an address this machine does not have.
      console.error(
        new ConfigError('HOST', `${config.host} cannot be listened on: ${(err as Error).message}`)
          .message,
      );
      process.exitCode = 2;
      return;
    }
    console.error(`cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`);
    process.exitCode = 1;
    return;
  }
  logger.info(
    {
      url,
      mode: config.mode,
      role: config.role,
      dataDir: config.dataDir,
    },
    'aggregator listening',
  );
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: intake closed, draining the queue');
    const hardStop = setTimeout(
      () => {
        logger.error('shutdown took too long; exiting');
        logger.flush();
        process.exit(1);
      },
      (config.shutdownTimeoutS + 5) * 1000,
    );
    hardStop.unref();
    app.close().then(
      () => {
        logger.info('stopped cleanly');
        logger.flush();
        process.exitCode = 0;
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        logger.flush();
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
