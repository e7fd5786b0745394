/** Operations: /stats, /healthz, /readyz. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { HealthSchema, NoQuerySchema, StatsSchema } from '../../domain/schemas.js';
import type { HttpContext } from '../context.js';

export function opsRoutes(app: FastifyInstance, ctx: HttpContext): void {
  app.get(
    '/stats',
    {
      config: { access: 'read' },
      schema: { querystring: NoQuerySchema, response: { 200: StatsSchema } },
    },
    async () => ctx.stats(),
  );
  app.get(
    '/metrics',
    {
      config: { access: 'metrics' },
      schema: { response: { 200: Type.String({ description: 'Prometheus text format' }) } },
    },
    async (_request, reply) => {
      const text = await ctx.metrics.registry.metrics();
      return reply.type(ctx.metrics.registry.contentType).send(text);
    },
  );
  app.get(
    '/healthz',
    {
      config: { access: 'open' },
      schema: { response: { 200: HealthSchema, 503: HealthSchema } },
    },
    (_request, reply) => {
      const checks = ctx.liveness();
      const ok = Object.values(checks).every(Boolean);
      return reply.code(ok ? 200 : 503).send(ok ? { status: 'ok' } : { status: 'failed', checks });
    },
  );
  app.get(
    '/readyz',
    {
      config: { access: 'open' },
      schema: { response: { 200: HealthSchema, 503: HealthSchema } },
    },
    async (_request, reply) => {
      const checks = await ctx.readiness();
      const ok = Object.values(checks).every(Boolean);
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'unavailable', checks });
    },
  );
}
