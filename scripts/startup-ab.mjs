// Start-up A/B across Node binaries: `<node> scripts/start.mjs` (what `npm start` execs) on an
// empty DATA_DIR, from spawn to the first 200 from /healthz, then SIGTERM. Variants run
// interleaved, round after round, so machine load hits all alike; the first round is dropped
// (it warms the OS cache and the compile cache). Prints, per variant, the median wall time
// and the median CPU time the server used up to healthy (utime + stime from /proc, which
// survives contention better than wall time).
// Usage: node scripts/startup-ab.mjs ROUNDS label=/path/to/node[:nocache] ...
//   `:nocache` runs that binary with NODE_DISABLE_COMPILE_CACHE=1.
import { spawn } from 'node:child_process';
import { get } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { URL, fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TICKS = 100; // USER_HZ on Linux
const rounds = Number(process.argv[2]);
const variants = process.argv.slice(3).map((arg) => {
  const [label, spec] = arg.split('=');
  const [bin, flag] = (spec ?? '').split(':');
  if (!label || !bin) throw new Error(`bad variant ${arg}`);
  return { label, bin, nocache: flag === 'nocache', wall: [], cpu: [] };
});
if (!(rounds >= 2) || variants.length === 0) {
  console.error('usage: node scripts/startup-ab.mjs ROUNDS label=/path/to/node[:nocache] ...');
  process.exit(2);
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The status of GET /healthz, or 0 while nothing listens. */
function healthz(port) {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/healthz' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
  });
}

function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS;
}

async function once(v) {
  const dir = mkdtempSync(join(tmpdir(), 'logsieve-startup-'));
  const port = await freePort();
  const env = { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: String(port), DATA_DIR: dir };
  env.LOG_LEVEL = 'warn';
  if (v.nocache) env.NODE_DISABLE_COMPILE_CACHE = '1';
  const started = process.hrtime.bigint();
  const child = spawn(v.bin, [join(ROOT, 'scripts/start.mjs')], { env, stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let wall = NaN;
  let cpu = NaN;
  for (;;) {
    if ((await healthz(port)) === 200) {
      wall = Number(process.hrtime.bigint() - started) / 1e6;
      cpu = cpuMs(child.pid);
      break;
    }
    if (child.exitCode !== null) throw new Error(`${v.label} exited ${child.exitCode}`);
    await sleep(10);
  }
  child.kill('SIGTERM');
  await exited;
  rmSync(dir, { recursive: true, force: true });
  return { wall, cpu };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

for (let r = 0; r < rounds; r++) {
  for (const v of variants) {
    const { wall, cpu } = await once(v);
    if (r > 0) {
      v.wall.push(wall);
      v.cpu.push(cpu);
    }
  }
}
for (const v of variants) {
  console.log(
    `${v.label.padEnd(24)} wall median ${median(v.wall).toFixed(0)} ms ` +
      `(min ${Math.min(...v.wall).toFixed(0)}, max ${Math.max(...v.wall).toFixed(0)}), ` +
      `cpu median ${median(v.cpu).toFixed(0)} ms, n=${v.wall.length}`,
  );
}
