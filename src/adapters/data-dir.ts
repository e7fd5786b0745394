/**
 * DATA_DIR made ready for an embedded backend: created if missing, and writable by this
 * process. Either fails with a ConfigError naming DATA_DIR and the path (exit code 2), where
 * SQLite's own refusal said only "unable to open database file".
 */
import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { ConfigError } from '../config.js';

export async function prepareDataDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new ConfigError('DATA_DIR', `${dir} cannot be created: ${(err as Error).message}`);
  }
  try {
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw new ConfigError(
      'DATA_DIR',
      `${dir} is not writable by this process: ${(err as Error).message}`,
    );
  }
}
