/** POST /publish: validate all, enqueue all durably, answer 202 (or 200 with ?wait=true). */
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../domain/errors.js';
import {
  ErrorSchema,
  PublishAcceptedSchema,
  PublishQuerySchema,
  PublishResultsSchema,
} from '../../domain/schemas.js';
import type { ResultWaiters } from '../../consumer/waiters.js';
import type { HttpContext } from '../context.js';

export function publishRoutes(app: FastifyInstance, ctx: HttpContext): void {
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
      onResponse: (_request, reply, done) => {
        ctx.metrics.publishLatency(reply.elapsedTime / 1000, reply.statusCode);
        done();
      },
      onRequest: (_request, _reply, done) => {
        if (!ctx.intake.accepting) {
          done(new AppError('unavailable', 'the aggregator is shutting down', { retryAfter: 2 }));
          return;
        }
        done();
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
        return reply.code(202).send({ accepted: events.length });
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
