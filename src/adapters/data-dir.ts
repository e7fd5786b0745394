/**
 * DATA_DIR made ready for an embedded backend: created if missing, and writable by this
 * process. Either fails with a ConfigError naming DATA_DIR and the path (exit code 2), where
 * SQLite's own refusal said only "unable to open database file".
 *
 * The missing directories are made one level at a time, not with mkdir's `recursive`:
 * Node's recursive mkdir never settles when the kernel answers ENOENT although the parent
 * exists, as /proc does for any new name (a start-up with DATA_DIR=/proc/x spun at ~80 % CPU
 * and ignored SIGTERM). One plain mkdir per level surfaces that ENOENT as a refusal.
 */
import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../config.js';

export async function prepareDataDir(dir: string): Promise<void> {
  try {
    await makeDirectories(resolve(dir));
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

/** `mkdir -p` for an absolute path: the missing levels, outermost first. */
async function makeDirectories(path: string): Promise<void> {
  const missing: string[] = [];
  for (let p = path; ; p = dirname(p)) {
    if (await exists(p)) break;
    missing.push(p);
    if (dirname(p) === p) break; // the root itself is missing: mkdir below says why
  }
  for (const p of missing.reverse()) {
    try {
      await mkdir(p);
    } catch (err) {
      // Made meanwhile by someone else: fine if it is a directory (checked at the end).
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  if (!(await stat(path)).isDirectory()) {
    throw new Error(`ENOTDIR: not a directory, mkdir '${path}'`);
  }
}

/** Whether the path names anything; errors other than ENOENT (EACCES, ENOTDIR…) are thrown. */
async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
