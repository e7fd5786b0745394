/**
 * Fastify setup: JSON only, limits from config, one error handler producing the SPEC error
 * shape, and the routes. Schemas are compiled once here at startup.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AppError } from '../domain/errors.js';
import type { HttpContext } from './context.js';
import { sendError, toAppError } from './errors.js';
import { registerOpenApi } from './openapi.js';
import { eventRoutes } from './routes/events.js';
import { opsRoutes } from './routes/ops.js';
import { publishRoutes } from './routes/publish.js';
import { subscribeRoutes } from './routes/subscribe.js';

export interface ServerOptions {
  readonly logger: Logger;
  readonly maxBodyBytes: number;
  /** Which route groups to serve: ROLE=worker serves only health and stats. */
  readonly publicApi: boolean;
  readonly version: string;
}

export async function createServer(
  ctx: HttpContext,
  opts: ServerOptions,
): Promise<FastifyInstance> {
  const app = Fastify<Server, IncomingMessage, ServerResponse, FastifyBaseLogger>({
    loggerInstance: opts.logger,
    // One log line per request would cost more than the request itself at 10k req/s.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.maxBodyBytes,
    keepAliveTimeout: 65_000,
    return503OnClosing: true,
    ajv: {
      customOptions: {
        removeAdditional: false,
        coerceTypes: true,
        useDefaults: true,
        allErrors: true,
      },
    },
  });
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((err, request, reply) => {
    const error = toAppError(err);
    if (request.routeOptions.url === '/publish' && error.status >= 400 && error.status < 500) {
      ctx.intake.rejected++;
      ctx.metrics.rejected(error.code);
    }
    if (error.status >= 500 && error.code !== 'queue_full' && error.code !== 'unavailable') {
      request.log.error({ err: error.cause ?? err, url: request.url }, 'request failed');
    }
    return sendError(reply, error);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(
      reply,
      new AppError('not_found', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`),
    ),
  );

  if (opts.publicApi) await registerOpenApi(app, opts.version);
  opsRoutes(app, ctx);
  if (opts.publicApi) {
    publishRoutes(app, ctx);
    eventRoutes(app, ctx);
    subscribeRoutes(app, ctx);
  }
  return app;
}
