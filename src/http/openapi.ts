/**
 * OpenAPI document (GET /openapi.json) and interactive docs (/docs), generated from the
 * route schemas, which come from src/domain/schemas.ts. /publish validates its body itself
 * (to list every bad item), so its body schema is added to the document here.
 *
 * Built off the start-up path: @fastify/swagger, @fastify/swagger-ui and what they load
 * (yaml, @fastify/static, glob, mime) were ~150-200 ms of a ~1 s start, for pages /healthz
 * never needs. The app records every route it registers (method, url, schema); a separate
 * docs-only Fastify instance, loaded and built once just after the server listens (or at the
 * first docs request, if that comes sooner), registers the same routes with swagger and
 * answers /openapi.json and /docs* through inject(). Its routes never run and compile no
 * validators or serializers, so the document is what swagger makes of the same schemas.
 *
 * States: collecting routes -> building (one promise) -> built. A failed build is retried
 * by the next docs request.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema } from 'fastify';
import { EventSchema } from '../domain/schemas.js';

const PublishBodySchema = Type.Union([
  EventSchema,
  Type.Array(EventSchema, { minItems: 1 }),
  Type.Object(
    { events: Type.Array(EventSchema, { minItems: 1 }) },
    { additionalProperties: false },
  ),
]);

/**
 * POST /v1/logs parses its body itself (protobuf or OTLP JSON), so the document describes it
 * here: the OTLP JSON shape at its top level, the full schema being the upstream proto.
 */
const OtlpLogsBodySchema = Type.Object(
  {
    resourceLogs: Type.Array(Type.Object({}, { additionalProperties: true }), {
      description:
        'ResourceLogs of opentelemetry-proto logs/v1 (OTLP JSON: hex ids, int64 as strings).',
    }),
  },
  {
    additionalProperties: true,
    description:
      'An OTLP ExportLogsServiceRequest (opentelemetry.proto.collector.logs.v1), as application/x-protobuf or OTLP JSON.',
  },
);

const ENCODING_HEADER = Type.Object({
  'content-encoding': Type.Optional(
    Type.String({
      description: 'gzip or deflate; the inflated size counts against the body limit.',
    }),
  ),
});

interface RecordedRoute {
  readonly method: string | string[];
  readonly url: string;
  readonly schema: FastifySchema | undefined;
}

/** The docs routes, served by the docs instance (and open: see server.ts's onRoute hook). */
const DOCS_ROUTES = ['/openapi.json', '/docs', '/docs/*'];

/** Response headers not copied from the docs instance's answer (per connection). */
const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'date']);

export function registerOpenApi(app: FastifyInstance, version: string): void {
  const routes: RecordedRoute[] = [];
  app.addHook('onRoute', (route) => {
    // HEAD routes are made from GET routes by the docs instance itself, as here.
    if (route.method === 'HEAD' || DOCS_ROUTES.includes(route.url)) return;
    routes.push({ method: route.method, url: route.url, schema: route.schema });
  });
  let built: Promise<FastifyInstance> | null = null;
  const docs = (): Promise<FastifyInstance> => {
    built ??= buildDocs(routes, version).catch((err: unknown) => {
      built = null;
      throw err;
    });
    return built;
  };
  app.addHook('onListen', (done) => {
    setImmediate(() => void docs().catch(() => undefined));
    done();
  });
  const forward = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    // Always GET: for HEAD, Fastify drops the body here and keeps the length, as before.
    const res = await (
      await docs()
    ).inject({ method: 'GET', url: request.url, headers: request.headers });
    // The one not-found answer of the API (SPEC error shape), not the docs instance's own.
    if (res.statusCode === 404) return reply.callNotFound();
    for (const [name, value] of Object.entries(res.headers)) {
      if (value !== undefined && !HOP_HEADERS.has(name)) void reply.header(name, value);
    }
    void reply.code(res.statusCode);
    await (res.rawPayload.length === 0 ? reply.send() : reply.send(res.rawPayload));
  };
  for (const url of DOCS_ROUTES) app.get(url, { schema: { hide: true } }, forward);
}

/**
 * What the route schemas cannot say as Fastify reads them (found by an outside probe that
 * checked real answers against the document):
 * - a query parameter with a default is optional (the schemas list it as required so that
 *   Ajv fills the default in; the handlers read it typed as present);
 * - /metrics answers Prometheus text, /subscribe an event stream that resumes after the
 *   Last-Event-ID header, and /events may stop a page early with x-page-truncated.
 */
function documented(url: string, schema: FastifySchema): FastifySchema {
  const query = schema.querystring as
    { required?: string[]; properties?: Record<string, { default?: unknown }> } | undefined;
  const out: FastifySchema =
    query?.required === undefined
      ? { ...schema }
      : {
          ...schema,
          querystring: {
            ...query,
            required: query.required.filter(
              (name) => query.properties?.[name]?.default === undefined,
            ),
          },
        };
  if (url === '/metrics') {
    out.response = {
      200: {
        description: 'Prometheus text exposition format',
        content: { 'text/plain; version=0.0.4': { schema: { type: 'string' } } },
      },
    };
  } else if (url === '/subscribe') {
    out.headers = Type.Object({
      'last-event-id': Type.Optional(
        Type.String({
          description:
            'The last offset received (sent by a reconnecting EventSource); wins over `after`.',
        }),
      ),
    });
    out.response = {
      ...(schema.response as Record<string, unknown> | undefined),
      200: {
        description:
          'Server-Sent Events: `id` is the offset, `event: event`, `data` the event as JSON; live events follow the stored ones.',
        content: { 'text/event-stream': { schema: { type: 'string' } } },
      },
    };
  } else if (url === '/events') {
    const response = schema.response as Record<string, Record<string, unknown>> | undefined;
    out.response = {
      ...response,
      200: {
        ...response?.['200'],
        headers: {
          'x-page-truncated': {
            type: 'string',
            description:
              '"true" when a page of very large events stopped before `limit`: continue from its last offset.',
          },
        },
      },
    };
  }
  return out;
}

/** The docs-only instance: swagger over the recorded routes, with handlers never called. */
async function buildDocs(
  routes: readonly RecordedRoute[],
  version: string,
): Promise<FastifyInstance> {
  const [{ default: Fastify }, { default: swagger }, { default: swaggerUi }] = await Promise.all([
    import('fastify'),
    import('@fastify/swagger'),
    import('@fastify/swagger-ui'),
  ]);
  const docs = Fastify();
  // Requests never reach these routes' handlers: nothing to validate or serialise.
  docs.setValidatorCompiler(() => () => true);
  docs.setSerializerCompiler(() => (data) => JSON.stringify(data));
  await docs.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'logsieve',
        description:
          'Pub-sub log aggregator with an idempotent consumer: every unique (topic, event_id) stored exactly once.',
        version,
      },
      components: {
        securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } },
      },
    },
    // Every route but health needs a key when keys are configured (src/http/access.ts).
    transform: ({ schema, url }) => {
      if (url === '/publish') {
        return {
          schema: {
            ...schema,
            body: PublishBodySchema,
            consumes: ['application/json', 'application/x-ndjson'],
            headers: ENCODING_HEADER,
            security: [{ apiKey: [] }],
          },
          url,
        };
      }
      if (url === '/v1/logs') {
        return {
          schema: {
            ...schema,
            body: OtlpLogsBodySchema,
            consumes: ['application/x-protobuf', 'application/json'],
            produces: ['application/x-protobuf', 'application/json'],
            headers: ENCODING_HEADER,
            security: [{ apiKey: [] }],
          },
          url,
        };
      }
      if (url === '/healthz' || url === '/readyz') return { schema, url };
      return { schema: { ...documented(url, schema), security: [{ apiKey: [] }] }, url };
    },
  });
  await docs.register(swaggerUi, { routePrefix: '/docs' });
  docs.get('/openapi.json', { schema: { hide: true } }, (_request, reply) =>
    reply.send(docs.swagger()),
  );
  for (const r of routes) {
    docs.route({
      method: r.method,
      url: r.url,
      ...(r.schema === undefined ? {} : { schema: r.schema }),
      handler: (_request, reply) => reply.code(404).send(),
    });
  }
  await docs.ready();
  return docs;
}
