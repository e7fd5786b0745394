/**
 * Answers that go out before the request's body has all arrived (413 for an upload over
 * MAX_BODY_BYTES, refused on its Content-Length or part-way through; 401, 403 or 503 from
 * the hooks before any body is read): the connection stays open and the rest of the body is
 * read and thrown away, so that the client gets to read the answer.
 *
 * Why: Fastify answers a body it cannot parse with `Connection: close`, and Node then closes
 * the socket right after the answer. A close with unread bytes in the receive buffer makes the
 * kernel send a reset, which reaches a client still writing before the answer does: Node's
 * fetch failed with EPIPE on about half of the uploads of 11-100 MB against the default 10 MiB
 * limit (found by an outside probe; test/http/oversized-uploads.test.ts). A shipper then
 * retries a request that can never succeed, as if the network had failed, and is never told
 * the limit.
 *
 * States of such a connection: draining (each chunk read and dropped: memory stays flat) ->
 * either the body ends (the connection is a keep-alive one again, as after any answer) or a
 * bound passes and the socket is destroyed: DRAIN_BOUNDS.totalMs in all, or .idleMs without a
 * byte (nginx's lingering close uses the same 30 s and 5 s), or the server closes (a draining
 * connection never holds up a shutdown).
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply } from 'fastify';

export interface DrainBounds {
  /** Longest a refused body is read in all before the socket is destroyed. */
  readonly totalMs: number;
  /** Longest the drain waits for the next chunk before the socket is destroyed. */
  readonly idleMs: number;
}

export const DRAIN_BOUNDS: DrainBounds = { totalMs: 30_000, idleMs: 5_000 };

/**
 * The drains in progress on one server. Error answers call `keepReading` just before they are
 * sent (every one goes through `answer` in server.ts: the error handler, the not-found
 * handler, Fastify's frameworkErrors); the server's preClose calls `destroyAll`.
 *
 * Why there and not in an onSend hook, which would see every answer: only an error can be
 * answered before the body is in (a route runs once its body is parsed), and with no onSend
 * hook at all Fastify skips its onSend runner on every 202 of the hot path. A success that a
 * route sends without reading a body (a GET with one) needs nothing from here: Node keeps such
 * a connection open and discards the rest itself; it is Fastify's `Connection: close` on a body
 * it refuses that makes Node close with bytes unread.
 */
export class RefusedBodies {
  private readonly draining = new Set<Socket>();

  constructor(private readonly bounds: DrainBounds = DRAIN_BOUNDS) {}

  /** Before `reply` is sent: if its request's body is not all in, read the rest and drop it. */
  keepReading(reply: FastifyReply): void {
    const raw = reply.request.raw;
    // `complete` is set once the parser has seen the body's last byte (at once for a request
    // without a body); a request whose stream already failed (a client that went away) has
    // nothing left to read.
    if (raw.complete || raw.destroyed || reply.sent) return;
    // Without it, Node ends the connection after the answer and the reset follows; the answer
    // still ends the request, and the connection is reusable once the body is in.
    reply.removeHeader('connection');
    reply.raw.shouldKeepAlive = true;
    drain(raw, this.bounds, this.draining);
  }

  /**
   * For preClose, not onClose: onClose runs after the server has closed, and server.close()
   * waits for a draining connection, which is not idle, so a shutdown would wait out the bounds.
   */
  destroyAll(): void {
    for (const socket of this.draining) socket.destroy();
  }
}

function drain(raw: IncomingMessage, bounds: DrainBounds, draining: Set<Socket>): void {
  const socket = raw.socket;
  const stop = (): void => {
    finish();
    socket.destroy();
  };
  const total = setTimeout(stop, bounds.totalMs);
  const idle = setTimeout(stop, bounds.idleMs);
  const onData = (): void => {
    idle.refresh();
  };
  const finish = (): void => {
    clearTimeout(total);
    clearTimeout(idle);
    raw.removeListener('data', onData);
    raw.removeListener('end', finish);
    raw.removeListener('close', finish);
    socket.removeListener('close', finish);
    draining.delete(socket);
  };
  draining.add(socket);
  // A preParsing stream (an inflater) the parser stopped reading would hold the body back.
  raw.unpipe();
  raw.on('data', onData);
  raw.once('end', finish);
  raw.once('close', finish);
  // The request may not see its socket go (destroyed by the bounds or preClose); the timers
  // must not outlive it either way.
  socket.once('close', finish);
  raw.resume();
}
