// O_DSYNC write latency on this machine's disk: 2,000 sequential 2 KB writes appending to a
// new file, against the same writes inside a file zero-filled and fsync'ed first (what the
// queue log's runway does, writer.ts). Files under /tmp/dsync-micro-*. Usage:
// node scripts/dsync-micro.mjs
import { openSync, writeSync, constants, closeSync, unlinkSync, rmSync, fsyncSync } from 'node:fs';
const buf = Buffer.alloc(2048, 65);
function bench(name, prealloc) {
  const p = `/tmp/dsync-micro-${name}`;
  rmSync(p, { force: true });
  let fd = openSync(p, constants.O_WRONLY | constants.O_CREAT, 0o644);
  if (prealloc) {
    const z = Buffer.alloc(1 << 20);
    for (let i = 0; i < 8; i++) writeSync(fd, z, 0, z.length, i << 20);
    fsyncSync(fd);
  }
  closeSync(fd);
  fd = openSync(p, constants.O_WRONLY | constants.O_DSYNC);
  const N = 2000;
  const ts = [];
  for (let i = 0; i < N; i++) {
    const t = process.hrtime.bigint();
    writeSync(fd, buf, 0, buf.length, i * 2048);
    ts.push(Number(process.hrtime.bigint() - t) / 1e3);
  }
  ts.sort((a, b) => a - b);
  console.log(
    name,
    'p50',
    ts[N / 2].toFixed(0),
    'p90',
    ts[Math.floor(N * 0.9)].toFixed(0),
    'p99',
    ts[Math.floor(N * 0.99)].toFixed(0),
    'µs',
  );
  closeSync(fd);
  unlinkSync(p);
}
for (let k = 0; k < 2; k++) {
  bench('append', false);
  bench('prealloc', true);
}
