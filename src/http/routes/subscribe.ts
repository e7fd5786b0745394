/**
 * GET /subscribe?topic=…&after=…: Server-Sent Events. Sends every stored event with an offset
 * above the cursor (`after`, or the Last-Event-ID header of a reconnecting client), then live
 * ones as they are stored. The SSE `id` is the offset, so a reconnect resumes without gaps or
 * repeats. The loop reads the store by offset, which never skips (see the store contract), and
 * sleeps until this process applies a batch or a poll interval passes (another instance may
 * have stored events).
 */
import { Type } from '@sinclair/typebox';
import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { storedEventJson } from '../../domain/event.js';
import { MAX_NAME_LENGTH } from '../../domain/schemas.js';
import type { HttpContext } from '../context.js';

const PAGE = 500;
const POLL_MS = 1_000;
const HEARTBEAT_MS = 15_000;

/** Resolves when `raw` can take more, or the client is gone, or the server is stopping. */
function drainedOrGone(raw: ServerResponse, closing: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      raw.off('drain', done);
      raw.off('close', done);
      closing.removeEventListener('abort', done);
      resolve();
    };
    raw.once('drain', done);
    raw.once('close', done);
    closing.addEventListener('abort', done, { once: true });
  });
}

const SubscribeQuerySchema = Type.Object(
  {
    topic: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_NAME_LENGTH })),
    after: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
  },
  { additionalProperties: false },
);

export function subscribeRoutes(app: FastifyInstance, ctx: HttpContext): void {
  app.get<{ Querystring: { topic?: string; after?: number } }>(
    '/subscribe',
    { schema: { querystring: SubscribeQuerySchema } },
    async (request, reply) => {
      const lastId = Number(request.headers['last-event-id']);
      let cursor =
        Number.isSafeInteger(lastId) && lastId >= 0 ? lastId : (request.query.after ?? 0);
      const topic = request.query.topic;
      const raw = reply.raw;
      reply.hijack();
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      raw.write('retry: 2000\n\n');
      let open = true;
      const onClose = (): void => {
        open = false;
        ctx.changes.wake();
      };
      raw.on('close', onClose);
      let lastWrite = Date.now();
      try {
        while (open && !ctx.closing.aborted) {
          const rows = await ctx.reader.list({
            after: cursor,
            limit: PAGE,
            order: 'asc',
            ...(topic !== undefined ? { topic } : {}),
          });
          for (const row of rows) {
            if (!open) break;
            const flushed = raw.write(
              `id: ${row.offset}\nevent: event\ndata: ${storedEventJson(row)}\n\n`,
            );
            cursor = row.offset;
            lastWrite = Date.now();
            // A client that stops reading must not hold the loop (or shutdown) forever.
            if (!flushed) await drainedOrGone(raw, ctx.closing);
          }
          if (rows.length === PAGE) continue;
          if (Date.now() - lastWrite >= HEARTBEAT_MS) {
            raw.write(': keep-alive\n\n');
            lastWrite = Date.now();
          }
          await ctx.changes.next(POLL_MS);
        }
      } catch (err) {
        // End the stream so the client reconnects (after `retry`) from its last id.
        request.log.warn({ err }, 'subscription ended: the store could not be read');
      } finally {
        raw.off('close', onClose);
        if (raw.writableNeedDrain) raw.destroy();
        else raw.end();
      }
    },
  );
}
