/**
 * The drain after an early answer (src/http/refused-bodies.ts), over a raw socket so that
 * each test controls exactly when the body's bytes are sent: the connection stays usable when
 * the body ends, and each bound (between chunks, in all, the server closing) destroys it.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { RefusedBodies, type DrainBounds } from '../../src/http/refused-bodies.js';
import { sleep } from '../helpers/tmp.js';

const LIMIT = 1024;

async function withApp(
  bounds: DrainBounds,
  body: (port: number, app: FastifyInstance) => Promise<void>,
): Promise<void> {
  const app = Fastify({ bodyLimit: LIMIT });
  // Wired as server.ts wires it: the error handler keeps reading, preClose destroys.
  const refused = new RefusedBodies(bounds);
  app.setErrorHandler((err: Error & { statusCode?: number }, _request, reply) => {
    refused.keepReading(reply);
    return reply.code(err.statusCode ?? 500).send({ error: err.message });
  });
  app.addHook('preClose', (done) => {
    refused.destroyAll();
    done();
  });
  app.post('/x', () => Promise.resolve({ ok: true }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  try {
    await body(port, app);
  } finally {
    await app.close();
  }
}

interface Conn {
  readonly socket: net.Socket;
  /** Everything read so far. */
  text(): string;
  /** Resolves once `pattern` has been read; rejects after `ms`. */
  read(pattern: RegExp, ms?: number): Promise<void>;
  /** Resolves with how long after the call the socket closed; rejects after `ms`. */
  closed(ms: number): Promise<number>;
}

async function connect(port: number): Promise<Conn> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let text = '';
  let isClosed = false;
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  // Writes into a socket the server destroyed fail; the tests look at `closed` instead.
  socket.on('error', () => undefined);
  socket.on('close', () => (isClosed = true));
  const until = async (done: () => boolean, ms: number, what: string): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`${what} not within ${ms} ms`);
      await sleep(5);
    }
  };
  return {
    socket,
    text: () => text,
    read: (pattern, ms = 5_000) => until(() => pattern.test(text), ms, `${pattern}`),
    closed: async (ms) => {
      const t0 = Date.now();
      await until(() => isClosed, ms, 'close');
      return Date.now() - t0;
    },
  };
}

const HEAD = 'POST /x HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n';
const chunk = (n: number): string => `${n.toString(16)}\r\n${'x'.repeat(n)}\r\n`;

void describe('draining a body after an early answer', () => {
  void it('reads the rest of a refused body, then serves the next request on the same connection', () =>
    withApp({ totalMs: 60_000, idleMs: 60_000 }, async (port) => {
      const c = await connect(port);
      c.socket.write(`${HEAD}transfer-encoding: chunked\r\n\r\n${chunk(2 * LIMIT)}`);
      await c.read(/^HTTP\/1\.1 413 /);
      assert.doesNotMatch(c.text(), /connection: close/i);
      // The client sends the rest after the answer, as a client streaming an upload does.
      for (let i = 0; i < 20; i++) c.socket.write(chunk(16 * 1024));
      c.socket.write('0\r\n\r\n');
      c.socket.write(`${HEAD}content-length: 2\r\n\r\n{}`);
      await c.read(/HTTP\/1\.1 200 [^]*\{"ok":true\}/);
      c.socket.destroy();
    }));

  void it('destroys the connection when the body stops arriving for idleMs', () =>
    withApp({ totalMs: 60_000, idleMs: 300 }, async (port) => {
      const c = await connect(port);
      c.socket.write(`${HEAD}transfer-encoding: chunked\r\n\r\n${chunk(2 * LIMIT)}`);
      await c.read(/^HTTP\/1\.1 413 /);
      // Far below the minute of the total bound: the idle one ends it.
      await c.closed(10_000);
    }));

  void it('destroys the connection after totalMs however steadily the body arrives', () =>
    withApp({ totalMs: 500, idleMs: 60_000 }, async (port) => {
      const c = await connect(port);
      c.socket.write(`${HEAD}transfer-encoding: chunked\r\n\r\n${chunk(2 * LIMIT)}`);
      await c.read(/^HTTP\/1\.1 413 /);
      let sending = true;
      const sender = (async () => {
        while (sending && !c.socket.destroyed) {
          c.socket.write(chunk(1024));
          await sleep(20);
        }
      })();
      try {
        await c.closed(10_000);
      } finally {
        sending = false;
        await sender;
      }
    }));

  void it('never holds up the server closing', () =>
    withApp({ totalMs: 60_000, idleMs: 60_000 }, async (port, app) => {
      const c = await connect(port);
      c.socket.write(`${HEAD}transfer-encoding: chunked\r\n\r\n${chunk(2 * LIMIT)}`);
      await c.read(/^HTTP\/1\.1 413 /);
      const t0 = Date.now();
      await app.close();
      await c.closed(10_000);
      assert.ok(Date.now() - t0 < 10_000, 'closed well before either bound');
    }));
});
