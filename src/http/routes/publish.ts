/**
 * POST /publish: validate all, enqueue all durably, answer 202 (or 200 with ?wait=true).
 * Bodies are JSON or NDJSON (src/http/ndjson.ts), optionally gzip/deflate-compressed
 * (src/http/encoding.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../domain/errors.js';
import {
  ErrorSchema,
  PublishAcceptedSchema,
  PublishQuerySchema,
  PublishResultsSchema,
} from '../../domain/schemas.js';
import type { ResultWaiters } from '../../consumer/waiters.js';
import type { AcceptedEvent } from '../../domain/event.js';
import type { HttpContext } from '../context.js';
import { contentDecoder } from '../encoding.js';
import { countIngest, formatLabel } from '../ingest.js';
import { NdjsonBody } from '../ndjson.js';

const JSON_UTF8 = 'application/json; charset=utf-8';

export function publishRoutes(app: FastifyInstance, ctx: HttpContext): void {
  const guard = ingestAccess(ctx);
  const counted = countIngest(ctx.metrics, '/publish');
  app.post<{ Querystring: { wait?: boolean } }>(
    '/publish',
    {
      // Keys are checked by the access hook (src/http/access.ts) before this route's own.
      config: { access: 'write' },
      schema: {
        querystring: PublishQuerySchema,
        response: {
          200: PublishResultsSchema,
          202: PublishAcceptedSchema,
          '4xx': ErrorSchema,
          '5xx': ErrorSchema,
        },
      },
      onResponse: (request, reply, done) => {
        ctx.metrics.publishLatency(reply.elapsedTime / 1000, reply.statusCode);
        counted(request, reply, done);
      },
      onRequest: guard,
      preParsing: contentDecoder(app.initialConfig.bodyLimit ?? DEFAULT_BODY_LIMIT),
    },
    async (request, reply) => {
      const events = validateBody(ctx, request.body);
      // Refused before enqueueing: a client must never get an error for events it
      // would then re-send.
      if (request.query.wait === true && ctx.waiters === null) {
        throw new AppError(
          'wait_unsupported',
          'wait=true needs this process to consume its own deliveries (embedded mode); in cluster mode, poll GET /events/:topic/:event_id',
        );
      }
      const ids = await ctx.queue.enqueue(events);
      ctx.metrics.accepted(events);
      ctx.metrics.ingestAccepted(
        '/publish',
        formatLabel(request.headers['content-type']),
        events.length,
      );
      if (request.query.wait !== true) {
        // Pre-serialised: the bytes PublishAcceptedSchema's serializer writes, without its
        // per-reply lookup, on the one answer every single-event request gets.
        return reply
          .code(202)
          .header('content-type', JSON_UTF8)
          .send(`{"accepted":${events.length}}`);
      }
      let items;
      try {
        // Registered before the consumer can take the events, so no result slips past it;
        // then the queue hands them out without lingering for a fuller batch
        // (CONSUMER_LINGER_MS).
        const results = (ctx.waiters as ResultWaiters).wait(ids, ctx.waitTimeoutMs);
        ctx.queue.expedite?.();
        items = await results;
      } catch (cause) {
        throw new AppError(
          'timeout',
          'accepted, but not processed in time; the events are queued',
          { cause },
        );
      }
      return reply.code(200).send({
        accepted: events.length,
        results: items.map((i) => ({
          topic: i.topic,
          event_id: i.event_id,
          status: i.status === 'stored' ? 'stored' : 'duplicate',
          offset: i.offset,
        })),
      });
    },
  );
}

/** Fastify's default; the app always sets bodyLimit from MAX_BODY_BYTES. */
const DEFAULT_BODY_LIMIT = 1024 * 1024;

function validateBody(ctx: HttpContext, body: unknown): AcceptedEvent[] {
  if (!(body instanceof NdjsonBody)) return ctx.validate(body);
  let events: AcceptedEvent[];
  try {
    // The lines as an array: each one is validated as one event.
    events = ctx.validate(body.items);
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    // Every bad line is listed (the parser already refused more lines than a batch may hold).
    throw body.notJson.length > 0 ? body.notJsonError(err) : body.relabel(err);
  }
  if (body.notJson.length > 0) throw body.notJsonError(null);
  return events;
}

/**
 * The intake check of every ingest route (POST /publish, POST /v1/logs): 503 while shutting
 * down. Keys are checked before it by the access hook (access.ts: both routes are 'write').
 * Shared so that both routes always answer alike.
 */
export function ingestAccess(
  ctx: HttpContext,
): (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void {
  return (_request, _reply, done) => {
    if (!ctx.intake.accepting) {
      done(new AppError('unavailable', 'the aggregator is shutting down', { retryAfter: 2 }));
      return;
    }
    done();
  };
}
