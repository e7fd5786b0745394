/** Reads: GET /events, GET /events/:topic/:event_id, GET /topics. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { storedEventJson } from '../../domain/event.js';
import { AppError } from '../../domain/errors.js';
import {
  ErrorSchema,
  EventKeyParamsSchema,
  EventsQuerySchema,
  NoQuerySchema,
  StoredEventSchema,
  TopicSchema,
  TopicsQuerySchema,
  type EventsQuery,
  type TopicsQuery,
} from '../../domain/schemas.js';
import type { HttpContext } from '../context.js';
import { DASHBOARD_HTML } from '../dashboard-page.js';
import { Slots } from '../slots.js';

/**
 * A page stops early at this many bytes (10,000 payloads of 64 KiB would be 640 MB); the
 * header `x-page-truncated: true` tells a client to continue from the last offset it got.
 * The store stops reading there (see EventReader.page), so a request never holds more.
 */
export const MAX_PAGE_BYTES = 32 * 1024 * 1024;

/**
 * Pages read or being sent at once; later requests wait their turn. With the cap above this
 * bounds what /events holds to about 2 x 32 MiB in this thread (test/process/memory.test.ts).
 * Two, as many as there are reader threads: more would only queue there holding memory.
 */
const PAGES_IN_FLIGHT = 2;

export function eventRoutes(app: FastifyInstance, ctx: HttpContext): void {
  const pages = new Slots(PAGES_IN_FLIGHT);
  app.get<{ Querystring: EventsQuery }>(
    '/events',
    {
      config: { access: 'read' },
      schema: {
        querystring: EventsQuerySchema,
        response: { 200: Type.Array(StoredEventSchema), 400: ErrorSchema },
      },
    },
    async (request, reply) => {
      // Encoded where it is read (a reader thread in embedded mode): stored payload text is
      // sent as is, never re-parsed, and the page's bytes are never copied again.
      const release = await pages.acquire();
      // 'close' comes when the response is sent or the client has gone: the page is freed.
      reply.raw.once('close', release);
      let page;
      try {
        page = await ctx.reader.page(request.query, MAX_PAGE_BYTES, 'json');
      } catch (err) {
        release();
        throw err;
      }
      if (page.truncated) void reply.header('x-page-truncated', 'true');
      return reply
        .type('application/json; charset=utf-8')
        .send(Buffer.from(page.body.buffer, page.body.byteOffset, page.body.byteLength));
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
      config: { access: 'read' },
      schema: {
        params: EventKeyParamsSchema,
        querystring: NoQuerySchema,
        response: { 200: StoredEventSchema, 404: ErrorSchema },
      },
    },
    (request, reply) => getOne(reply, request.params.topic, request.params.event_id),
  );
  // Hierarchical topics may arrive with raw slashes: /events/app/prod/api/<event_id>. The
  // path is cut at its last slash as sent and only then decoded: an event_id may hold an
  // encoded slash (%2F), which the decoded wildcard no longer tells from a separator.
  app.get(
    '/events/*',
    { config: { access: 'read' }, schema: { hide: true, querystring: NoQuerySchema } },
    (request, reply) => {
      // The path ends at `?` or `#`, as the router's does. The router matched the decoded
      // path, so a raw one not spelled /events/ (/%65vents/...) is not cut here.
      const end = request.url.search(/[?#]/);
      const path = end < 0 ? request.url : request.url.slice(0, end);
      const raw = path.startsWith(PREFIX) ? path.slice(PREFIX.length) : '';
      const cut = raw.lastIndexOf('/');
      if (cut <= 0 || cut === raw.length - 1) {
        throw new AppError('not_found', 'use /events/<topic>/<event_id>');
      }
      // Cannot throw: the router answers a path with malformed percent-encoding (400) first.
      const topic = decodeURIComponent(raw.slice(0, cut));
      return getOne(reply, topic, decodeURIComponent(raw.slice(cut + 1)));
    },
  );

  app.get('/', { config: { access: 'open' }, schema: { hide: true } }, (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(DASHBOARD_HTML),
  );
  app.get<{ Querystring: TopicsQuery }>(
    '/topics',
    {
      config: { access: 'read' },
      schema: {
        querystring: TopicsQuerySchema,
        response: { 200: Type.Array(TopicSchema), 400: ErrorSchema },
      },
    },
    async (request, reply) =>
      reply.send(
        await ctx.reader.topics({ limit: request.query.limit, after: request.query.after }),
      ),
  );
}

const PREFIX = '/events/';

function sendJson(reply: FastifyReply, json: string): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(json);
}
