/** Reads: GET /events, GET /events/:topic/:event_id, GET /topics. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { storedEventJson } from '../../domain/event.js';
import { AppError } from '../../domain/errors.js';
import {
  ErrorSchema,
  EventKeyParamsSchema,
  EventsQuerySchema,
  StoredEventSchema,
  TopicSchema,
  type EventsQuery,
} from '../../domain/schemas.js';
import type { HttpContext } from '../context.js';
import { DASHBOARD_HTML } from '../dashboard-page.js';

const MAX_PAGE_CHARS = 32 * 1024 * 1024;

export function eventRoutes(app: FastifyInstance, ctx: HttpContext): void {
  app.get<{ Querystring: EventsQuery }>(
    '/events',
    {
      schema: {
        querystring: EventsQuerySchema,
        response: { 200: Type.Array(StoredEventSchema), 400: ErrorSchema },
      },
    },
    async (request, reply) => {
      const rows = await ctx.reader.list(request.query);
      // Rows are serialised by hand so stored payload text is sent as is, never re-parsed.
      // A page stops early at MAX_PAGE_CHARS (10,000 payloads of 64 KiB would be 640 MB);
      // the header tells a client to continue from the last offset it got.
      const parts: string[] = [];
      let chars = 2;
      for (const row of rows) {
        const json = storedEventJson(row);
        if (parts.length > 0 && chars + json.length + 1 > MAX_PAGE_CHARS) {
          void reply.header('x-page-truncated', 'true');
          break;
        }
        parts.push(json);
        chars += json.length + 1;
      }
      return sendJson(reply, `[${parts.join(',')}]`);
    },
  );

  const getOne = async (
    reply: FastifyReply,
    topic: string,
    eventId: string,
  ): Promise<FastifyReply> => {
    const event = await ctx.reader.get(topic, eventId);
    if (event === null) throw new AppError('not_found', `no event ${eventId} in topic ${topic}`);
    return sendJson(reply, storedEventJson(event));
  };
  app.get<{ Params: { topic: string; event_id: string } }>(
    '/events/:topic/:event_id',
    {
      schema: {
        params: EventKeyParamsSchema,
        response: { 200: StoredEventSchema, 404: ErrorSchema },
      },
    },
    (request, reply) => getOne(reply, request.params.topic, request.params.event_id),
  );
  // Hierarchical topics may arrive with raw slashes: /events/app/prod/api/<event_id>.
  app.get<{ Params: { '*': string } }>(
    '/events/*',
    { schema: { hide: true } },
    (request, reply) => {
      const path = request.params['*'];
      const cut = path.lastIndexOf('/');
      if (cut <= 0 || cut === path.length - 1) {
        throw new AppError('not_found', 'use /events/<topic>/<event_id>');
      }
      return getOne(reply, path.slice(0, cut), path.slice(cut + 1));
    },
  );

  app.get('/', { schema: { hide: true } }, (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(DASHBOARD_HTML),
  );
  app.get(
    '/topics',
    { schema: { response: { 200: Type.Array(TopicSchema) } } },
    async (_request, reply) => reply.send(await ctx.reader.topics()),
  );
}

function sendJson(reply: FastifyReply, json: string): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(json);
}
