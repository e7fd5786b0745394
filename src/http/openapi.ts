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
        return { schema: { ...schema, body: PublishBodySchema, security: [{ apiKey: [] }] }, url };
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
