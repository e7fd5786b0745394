// Shared by the interleaved A/B scripts (w1-ab, w2-ab, o1-ab, visible-ab and the rest):
// variants from the command line, one server per variant for the whole run, CPU time from
// /proc, medians.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../dist/bench/servers.js';

const { fetch } = globalThis;

/** NAME=DIR[,VAR:VALUE...] arguments; exits with `usage` when there are none or ROUNDS is bad. */
export function parseVariants(argv, usage) {
  const rounds = Number(argv[0]);
  const variants = argv.slice(1).map((arg) => {
    // Split at the first '=' and ':' only, so values may hold them (NODE_OPTIONS:--flag=1).
    const at = (text, sep) => {
      const i = text.indexOf(sep);
      return i < 0 ? [text, ''] : [text.slice(0, i), text.slice(i + 1)];
    };
    const [name, rest] = at(arg, '=');
    const [dir, ...pairs] = rest.split(',');
    return { name, dir, env: Object.fromEntries(pairs.map((p) => at(p, ':'))) };
  });
  if (!(rounds > 0) || variants.length === 0) {
    console.error(usage);
    process.exit(2);
  }
  return { rounds, variants };
}

/**
 * On-CPU time per thread id, in clock ticks of 10 ms but with nanosecond precision: the
 * scheduler's own counter (/proc/<pid>/task/<tid>/schedstat, first field), not utime + stime,
 * whose 10 ms ticks are ~3 % of a thread's time in a 5,000-request round.
 */
export function threadTicks(pid) {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      out.set(tid, ns / 1e7);
    } catch (err) {
      // The thread ended between readdir and read; anything else (no schedstat) must not
      // read as zero CPU.
      if (err.code !== 'ENOENT' && err.code !== 'ESRCH') throw err;
    }
  }
  if (out.size === 0) throw new Error(`no thread of ${pid} could be read`);
  return out;
}

/**
 * CPU time (threadTicks' unit) of the whole process and of its main thread. The whole is the
 * sum over live threads: a thread that exits mid-round takes its time with it (the server's
 * threads, main, store, readers, libuv's pool and V8's, live as long as the process).
 */
export function cpuTicks(pid) {
  const threads = threadTicks(pid);
  let all = 0;
  for (const t of threads.values()) all += t;
  return { all, main: threads.get(String(pid)) ?? 0 };
}

export const stats = async (url) => (await fetch(`${url}/stats`)).json();

/**
 * The variant's server on a fresh DATA_DIR, once healthy. PROF=NAME runs that variant under
 * `node --cpu-prof` (profiles in /tmp/prof-NAME).
 */
export async function startVariant({ name, dir, env }, prefix) {
  const port = await freePort();
  const prof = process.env.PROF === name ? ['--cpu-prof', `--cpu-prof-dir=/tmp/prof-${name}`] : [];
  const child = spawn(process.execPath, [...prof, join(dir, 'dist/src/main.js')], {
    cwd: dir,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: mkdtempSync(join(tmpdir(), `${prefix}-${name}-`)),
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  let exited = null;
  child.once('exit', (code, signal) => (exited = signal ?? code));
  // A DIR that does not exist fails the spawn itself: 'error', and no 'exit'.
  child.once('error', (err) => (exited = err.message));
  const deadline = performance.now() + 60_000;
  for (;;) {
    // A variant that cannot start (a build missing files beside dist/, say) ends the run
    // instead of leaving it polling forever.
    if (exited !== null)
      throw new Error(`variant ${name} (${dir}) exited (${exited}) before /healthz answered`);
    if (performance.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`variant ${name} (${dir}): /healthz did not answer within 60 s`);
    }
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  return { url, child };
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Resolves with performance.now() once /stats shows `target` events processed and none
 * queued; throws after a minute (a round whose requests were refused never gets there).
 */
export async function processedAt(url, target) {
  const deadline = performance.now() + 60_000;
  while (performance.now() < deadline) {
    const s = await stats(url);
    if (s.queue_depth === 0 && s.unique_processed + s.duplicate_dropped >= target) {
      return performance.now();
    }
    await sleep(5);
  }
  throw new Error(`${url}: ${target} events not processed within 60 s`);
}

/**
 * The interleaving the A/B scripts share: one server per variant for the whole run, then
 * `rounds` rounds (after one warm-up round per variant, not kept) alternating between them.
 * `round({ url, child, name, tag, before })` runs one round against a server (`before` is its
 * /stats at the start) and returns what to keep; the servers are stopped at the end.
 * Resolves with the kept results per variant name, in round order.
 */
export async function interleave(argv, usage, prefix, round) {
  const { rounds, variants } = parseVariants(argv, usage);
  const servers = new Map();
  const results = new Map(variants.map((v) => [v.name, []]));
  try {
    for (const v of variants) servers.set(v.name, await startVariant(v, prefix));
    for (let r = -1; r < rounds; r++) {
      for (const { name } of variants) {
        const { url, child } = servers.get(name);
        const before = await stats(url);
        const kept = await round({ url, child, name, tag: `ab${r}${name}${Date.now()}`, before });
        if (r >= 0) results.get(name).push(kept);
      }
    }
  } finally {
    // Also on a failure: no server of this run outlives it (an orphan holding the output
    // pipe made a later run look hung).
    for (const { child } of servers.values()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
  return results;
}
