// `npm start`: the built server, in this very process. The script is `exec node ...`, so
// under npm the process npm signals IS the aggregator: SIGTERM sent to the npm process (a
// supervisor or container runtime signalling the main pid) is forwarded by npm to it and
// drains and stops it exactly as SIGTERM to node does. (With `a && node b`, npm signals an
// intermediate sh, which exits and leaves the server running.)
// It compiles first only when dist/ is missing or stale (see build-if-stale.mjs); `npm ci`
// has already built it through `prepare`.
import module from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, buildIfStale } from './build-if-stale.mjs';

// Node 22.1+ keeps V8's compiled code of the modules between starts (under the OS temp
// dir); Node 20 has no such API and starts as before.
module.enableCompileCache?.();

if (buildIfStale()) {
  await import(pathToFileURL(join(ROOT, 'dist/src/main.js')).href);
} else {
  console.error('logsieve: the build failed; not starting');
  process.exitCode = 1;
}
