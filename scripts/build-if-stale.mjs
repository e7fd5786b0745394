// Compiles the TypeScript (tsc -p tsconfig.json) only when dist/ is missing or older than
// its inputs, so `npm start` never pays the 9-13 s of tsc for a build that is up to date.
// Run by `prepare` (so `npm ci` builds once) and by scripts/start.mjs before it loads the
// server. Inputs: every file under the tsconfig's include dirs, tsconfig.json itself.
// Stale = some input's mtime is newer than the oldest of the marker outputs.
// Without src/ (a dependency layer of the Docker build, an installed package) or without
// TypeScript (a production install that already carries dist/), it does nothing.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const INPUT_DIRS = ['src', 'test', 'bench'];
// One output per include dir that always exists after a build.
const MARKERS = ['dist/src/main.js', 'dist/test/helpers/server.js', 'dist/bench/run.js'];

function newestMtime(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs; // a deleted or renamed file changes its directory's mtime
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

/** Why a build is needed, or null when dist/ is up to date. */
export function staleReason(root = ROOT) {
  const outputs = MARKERS.map((m) => join(root, m));
  const missing = outputs.find((o) => !existsSync(o));
  if (missing !== undefined) return `${missing} is missing`;
  const built = Math.min(...outputs.map((o) => statSync(o).mtimeMs));
  const inputs = [...INPUT_DIRS.map((d) => join(root, d)), join(root, 'tsconfig.json')];
  for (const input of inputs) {
    if (existsSync(input) && newestMtime(input) > built) return `${input} changed since the build`;
  }
  return null;
}

/** Builds when stale; returns true when dist/ is usable, false after a failed build. */
export function buildIfStale(root = ROOT, log = (line) => console.error(line)) {
  if (!existsSync(join(root, 'src'))) return true;
  const reason = staleReason(root);
  if (reason === null) return true;
  let tsc;
  try {
    tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
  } catch {
    log(`logsieve: ${reason}, but TypeScript is not installed (npm ci installs it)`);
    return existsSync(join(root, MARKERS[0]));
  }
  log(`logsieve: building (${reason})`);
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], {
    stdio: 'inherit',
  });
  return r.status === 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = buildIfStale() ? 0 : 1;
}
