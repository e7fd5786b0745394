/**
 * GET /subscribe?topic=…&after=…: Server-Sent Events. Sends every stored event with an offset
 * above the cursor (`after`, or the Last-Event-ID header of a reconnecting client), then live
 * ones as they are stored. The SSE `id` is the offset, so a reconnect resumes without gaps or
 * repeats. The loop reads the store by offset, which never skips (see the store contract), and
 * sleeps until this process applies a batch or a poll interval passes (another instance may
 * have stored events).
 *
 * Bounds (SPEC §3, §4 item 11):
 * - at most `maxSubscribers` streams at once; the next one is answered 503 + Retry-After.
 * - subscribers at the same position share one store read (SharedReads), and a page is at
 *   most PAGE_ROWS events and about PAGE_BYTES bytes.
 * - a subscriber holds at most one page beyond its socket's buffer: after a write the socket
 *   cannot take, the loop waits for it to drain, and a subscriber that does not drain within
 *   STALL_MS is disconnected (it reconnects and resumes from its last id) instead of being
 *   buffered without bound or holding its slot forever.
 */
import { Type } from '@sinclair/typebox';
import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../domain/errors.js';
import { MAX_NAME_LENGTH, TOPIC_PATTERN } from '../../domain/schemas.js';
import type { HttpContext } from '../context.js';
import { SharedReads } from '../shared-reads.js';

const PAGE_ROWS = 500;
const PAGE_BYTES = 1024 * 1024;
const POLL_MS = 1_000;
const HEARTBEAT_MS = 15_000;
/** A subscriber that cannot take one page in this long is cut (about 100 KB/s at worst). */
export const STALL_MS = 10_000;

/**
 * Resolves true when `raw` can take more, false after `ms` without that; also resolves
 * (true) when the client is gone or the server is stopping, which the loop checks itself.
 */
function drainedWithin(raw: ServerResponse, closing: AbortSignal, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const finish = (drained: boolean): void => {
      clearTimeout(timer);
      raw.off('drain', onDrain);
      raw.off('close', onDrain);
      closing.removeEventListener('abort', onDrain);
      resolve(drained);
    };
    const onDrain = (): void => finish(true);
    const timer = setTimeout(() => finish(false), ms);
    raw.once('drain', onDrain);
    raw.once('close', onDrain);
    closing.addEventListener('abort', onDrain, { once: true });
  });
}

const SubscribeQuerySchema = Type.Object(
  {
    topic: Type.Optional(
      Type.String({ minLength: 1, maxLength: MAX_NAME_LENGTH, pattern: TOPIC_PATTERN }),
    ),
    after: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
    access_token: Type.Optional(
      Type.String({ description: 'API key, for clients that cannot send headers (EventSource).' }),
    ),
  },
  { additionalProperties: false },
);

const DECIMAL = /^[0-9]+$/;

const STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
} as const;

export function subscribeRoutes(app: FastifyInstance, ctx: HttpContext): void {
  const shared = new SharedReads(ctx.reader, PAGE_ROWS, PAGE_BYTES);
  let active = 0;
  app.get<{ Querystring: { topic?: string; after?: number } }>(
    '/subscribe',
    { config: { access: 'read', queryToken: true }, schema: { querystring: SubscribeQuerySchema } },
    async (request, reply) => {
      if (active >= ctx.maxSubscribers) {
        throw new AppError(
          'unavailable',
          `${ctx.maxSubscribers} subscribers are connected, the most this server takes (MAX_SUBSCRIBERS)`,
          { retryAfter: 5 },
        );
      }
      // An offset, as every id this stream sends; anything else is a broken client, refused
      // as a bad `after` is rather than silently replayed from the start. Empty is what the
      // SSE spec sends to reset the id: the same as none.
      const header = request.headers['last-event-id'];
      const lastId = typeof header === 'string' && header !== '' ? header : null;
      if (lastId !== null && !(DECIMAL.test(lastId) && Number.isSafeInteger(Number(lastId)))) {
        throw new AppError('invalid_query', 'invalid Last-Event-ID', {
          details: [{ field: 'Last-Event-ID', message: 'must be an offset (decimal digits)' }],
        });
      }
      if (request.method === 'HEAD') {
        // Fastify answers HEAD with the GET handler (exposeHeadRoutes). A stream for HEAD
        // would never end (no body is written, so the stall cut never fires) and would hold
        // a slot for as long as the client stays: answer the stream's headers and end.
        return reply.code(200).headers(STREAM_HEADERS).send();
      }
      active++;
      let cursor = lastId !== null ? Number(lastId) : (request.query.after ?? 0);
      const topic = request.query.topic;
      const raw = reply.raw;
      reply.hijack();
      raw.writeHead(200, { ...STREAM_HEADERS, connection: 'keep-alive' });
      raw.write('retry: 2000\n\n');
      let open = true;
      const onClose = (): void => {
        open = false;
        ctx.changes.wake();
      };
      raw.on('close', onClose);
      let lastWrite = Date.now();
      let stalled = false;
      try {
        while (open && !ctx.closing.aborted) {
          const page = await shared.next(topic, cursor);
          if (!open) break;
          if (page.lastOffset !== null) {
            const flushed = raw.write(page.body);
            cursor = page.lastOffset;
            lastWrite = Date.now();
            if (!flushed && !(await drainedWithin(raw, ctx.closing, STALL_MS))) {
              stalled = true;
              request.log.warn(
                { topic, cursor },
                'subscriber disconnected: it did not keep up (it resumes from its last id)',
              );
              break;
            }
          }
          if (page.more) continue;
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
        active--;
        raw.off('close', onClose);
        if (stalled || raw.writableNeedDrain) raw.destroy();
        else raw.end();
      }
    },
  );
}
