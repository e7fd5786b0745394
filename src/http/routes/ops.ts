/** Operations: /stats, /healthz, /readyz. */
import type { FastifyInstance } from 'fastify';
import type { HttpContext } from '../context.js';

export function opsRoutes(app: FastifyInstance, ctx: HttpContext): void {
  app.get('/stats', async () => ctx.stats());
  app.get('/healthz', (_request, reply) => reply.send({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const checks = await ctx.readiness();
    const ok = Object.values(checks).every(Boolean);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'unavailable', checks });
  });
}
