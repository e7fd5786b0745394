/**
 * OpenAPI document (GET /openapi.json) and interactive docs (/docs), generated from the
 * route schemas, which come from src/domain/schemas.ts. /publish validates its body itself
 * (to list every bad item), so its body schema is added to the document here.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
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

export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
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
      return { schema: { ...schema, security: [{ apiKey: [] }] }, url };
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, (_request, reply) =>
    reply.send(app.swagger()),
  );
}
