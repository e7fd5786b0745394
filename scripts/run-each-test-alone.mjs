// Runs every test of the given compiled test files on its own (node --test-name-pattern with
// the test's exact name), so a test that only passes after another one ran is found.
// Usage: npm run build && node scripts/run-each-test-alone.mjs <path-substring> ...
// Slow by design (one process per test); run it on the files you touched, not in CI.
import { spawnSync } from 'node:child_process';
import { collectTestFiles as collect } from './test-files.mjs';

const NEVER = '^\\b$';
const SKIPPED = /^\s*ok \d+ - (.*) # SKIP test name does not match pattern$/;
const unescapeTap = (s) => s.replace(/\\(.)/g, '$1');
const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

function run(file, pattern, reporter) {
  return spawnSync(
    process.execPath,
    ['--test', `--test-name-pattern=${pattern}`, `--test-reporter=${reporter}`, file],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
}

const filters = process.argv.slice(2);
const files = collect('dist/test')
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const failed = [];
for (const file of files) {
  // With a pattern nothing matches, every leaf test is reported as skipped, by name.
  const listing = run(file, NEVER, 'tap');
  const names = [
    ...new Set(
      listing.stdout
        .split('\n')
        .map((line) => SKIPPED.exec(line)?.[1])
        .filter((n) => n !== undefined)
        .map(unescapeTap),
    ),
  ];
  for (const name of names) {
    const r = run(file, `^${escapeRegExp(name)}$`, 'spec');
    const ok = r.status === 0;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${file} :: ${name}`);
    if (!ok) {
      failed.push(`${file} :: ${name}`);
      console.log(
        r.stdout
          .split('\n')
          .filter((l) => /✖|Error|expected|actual/.test(l))
          .slice(0, 12)
          .join('\n'),
      );
    }
  }
}
console.log(
  failed.length === 0
    ? 'every test passed alone'
    : `${failed.length} failed alone:\n${failed.join('\n')}`,
);
process.exit(failed.length === 0 ? 0 : 1);
