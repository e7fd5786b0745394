/**
 * The durable floor for `--compare`: the least a Node.js HTTP server must do to answer 202
 * only once a request's bytes are on disk, with the same write policy as the queue log
 * (src/adapters/log/writer.ts) and none of the rest. Every POST body is parsed as JSON (a
 * server must at least do that to answer 400), appended with a newline to one file opened
 * with O_DSYNC, and answered 202 `{"accepted":1}` after its write's callback.
 *
 * Write policy, as the queue log's at its best: everything read in one event-loop phase
 * shares one write (setImmediate), at most two writes are in flight, each at its own
 * position, and the whole file is zero-filled at start (the runway's bound: no write ever
 * extends the file, so none commits a new size to the journal). Positions wrap at the end of
 * the file; the contents are never read. No validation, no queue, no consumer, no store, no
 * metrics, no logging: what logsieve answers below this rate is what its own work costs.
 *
 * Prints the port on stdout once listening; the file lives in a temporary directory removed
 * on SIGTERM.
 */
import { constants, mkdtempSync, openSync, rmSync, write, writeSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FILE_BYTES = 64 * 1024 * 1024;
const MAX_IN_FLIGHT = 2;

// Without O_DSYNC (Windows) the 202s would not mean durable and the floor would flatter.
const O_DSYNC: number | undefined = constants.O_DSYNC;
if (O_DSYNC === undefined) throw new Error('the durable floor needs O_DSYNC');
const dir = mkdtempSync(join(tmpdir(), 'logsieve-floor-'));
const fd = openSync(join(dir, 'floor.log'), constants.O_WRONLY | constants.O_CREAT | O_DSYNC);
const zeros = Buffer.alloc(1024 * 1024);
for (let at = 0; at < FILE_BYTES; at += zeros.length) writeSync(fd, zeros, 0, zeros.length, at);

let position = 0;
let inFlight = 0;
let scheduled = false;
let parts: Buffer[] = [];
let waiters: Array<(err: Error | null) => void> = [];

function pump(): void {
  scheduled = false;
  if (waiters.length === 0 || inFlight >= MAX_IN_FLIGHT) return;
  const data = Buffer.concat(parts);
  const done = waiters;
  parts = [];
  waiters = [];
  if (position + data.length > FILE_BYTES) position = 0;
  const at = position;
  position += data.length;
  inFlight++;
  // Each write's requests are answered when it lands, whichever of the two in flight lands
  // first: the floor never reads the file, so unlike the queue log it needs no order.
  writeAll(data, 0, at, (err) => {
    inFlight--;
    for (const w of done) w(err);
    if (waiters.length > 0 && !scheduled) pump();
  });
}

/** Writes data[from..] at `at`, going on after a short write (a full disk ends it). */
function writeAll(data: Buffer, from: number, at: number, cb: (err: Error | null) => void): void {
  write(fd, data, from, data.length - from, at, (err, written) => {
    if (err !== null) cb(err);
    else if (from + written >= data.length) cb(null);
    else if (written === 0) cb(new Error('short write'));
    else writeAll(data, from + written, at + written, cb);
  });
}

const ACCEPTED = '{"accepted":1}';
const NEWLINE = Buffer.from('\n');

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    try {
      JSON.parse(body.toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"error":"invalid_json"}');
      return;
    }
    parts.push(body, NEWLINE);
    waiters.push((err) => {
      res.writeHead(err === null ? 202 : 503, { 'content-type': 'application/json' });
      res.end(err === null ? ACCEPTED : '{"error":"unavailable"}');
    });
    if (!scheduled) {
      scheduled = true;
      setImmediate(pump);
    }
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address !== null && typeof address === 'object') process.stdout.write(`${address.port}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
