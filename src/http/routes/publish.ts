/** POST /publish: validate all, enqueue all durably, answer 202 (or 200 with ?wait=true). */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../../domain/errors.js';
import {
  ErrorSchema,
  PublishAcceptedSchema,
  PublishQuerySchema,
  PublishResultsSchema,
} from '../../domain/schemas.js';
import type { ResultWaiters } from '../../consumer/waiters.js';
import type { HttpContext } from '../context.js';

const JSON_UTF8 = 'application/json; charset=utf-8';

export function publishRoutes(app: FastifyInstance, ctx: HttpContext): void {
  const checkKey = apiKeyChecker(ctx.apiKeys);
  app.post<{ Querystring: { wait?: boolean } }>(
    '/publish',
    {
      schema: {
        querystring: PublishQuerySchema,
        response: {
          200: PublishResultsSchema,
          202: PublishAcceptedSchema,
          '4xx': ErrorSchema,
          '5xx': ErrorSchema,
        },
      },
      onResponse: (_request, reply, done) => {
        ctx.metrics.publishLatency(reply.elapsedTime / 1000, reply.statusCode);
        done();
      },
      onRequest: (request, _reply, done) => {
        if (!ctx.intake.accepting) {
          done(new AppError('unavailable', 'the aggregator is shutting down', { retryAfter: 2 }));
          return;
        }
        try {
          checkKey(request);
          done();
        } catch (err) {
          done(err as AppError);
        }
      },
    },
    async (request, reply) => {
      const events = ctx.validate(request.body);
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
        items = await (ctx.waiters as ResultWaiters).wait(ids, ctx.waitTimeoutMs);
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

/** Bearer keys compared in constant time (as SHA-256 digests, so lengths do not leak). */
function apiKeyChecker(keys: readonly string[]): (request: FastifyRequest) => void {
  if (keys.length === 0) return () => undefined;
  const digests = keys.map((k) => createHash('sha256').update(k).digest());
  return (request) => {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (match === null) throw new AppError('unauthorized', 'send Authorization: Bearer <api key>');
    const given = createHash('sha256')
      .update(match[1] as string)
      .digest();
    if (!digests.some((d) => timingSafeEqual(d, given))) {
      throw new AppError('unauthorized', 'unknown API key');
    }
  };
}
