// The compiled test files (dist/test/**/*.test.js), shared by run-tests.mjs and
// run-each-test-alone.mjs.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export function collectTestFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collectTestFiles(path));
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}
