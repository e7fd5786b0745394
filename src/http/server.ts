/**
 * Fastify setup: JSON only, limits from config, one error handler producing the SPEC error
 * shape, and the routes. Schemas are compiled once here at startup.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import sjson from 'secure-json-parse';
import { AppError } from '../domain/errors.js';
import { loadOtlpLogsCodec } from '../otlp/schema.js';
import type { HttpContext } from './context.js';
import { sendError, toAppError } from './errors.js';
import { registerOpenApi } from './openapi.js';
import { parseNdjson } from './ndjson.js';
import { isIngestRoute } from './ingest.js';
import { eventRoutes } from './routes/events.js';
import { opsRoutes } from './routes/ops.js';
import { otlpRoutes } from './routes/otlp.js';
import { publishRoutes } from './routes/publish.js';
import { subscribeRoutes } from './routes/subscribe.js';

export interface ServerOptions {
  readonly logger: Logger;
  readonly maxBodyBytes: number;
  /** Which route groups to serve: ROLE=worker serves only health and stats. */
  readonly publicApi: boolean;
  readonly version: string;
  /** OTLP_TOPIC_ATTRIBUTE (POST /v1/logs). */
  readonly otlpTopicAttribute: string;
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
    // /events/:topic/:event_id with both at their 200-character limit, percent-encoded.
    routerOptions: { maxParamLength: 1_300 },
    ajv: {
      customOptions: {
        removeAdditional: false,
        coerceTypes: true,
        useDefaults: true,
        allErrors: true,
      },
    },
  });
  app.removeContentTypeParser(['text/plain', 'application/json']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJsonBody);
  // /publish only (other routes refuse an NdjsonBody); limit enforced by Fastify as for JSON.
  app.addContentTypeParser(
    'application/x-ndjson',
    { parseAs: 'string' },
    (_request, body, done) => {
      try {
        done(null, parseNdjson(body as string));
      } catch (err) {
        done(err as Error);
      }
    },
  );

  app.setErrorHandler((err, request, reply) => {
    const error = toAppError(err);
    if (isIngestRoute(request.routeOptions.url) && error.status >= 400 && error.status < 500) {
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
    await app.register(
      otlpRoutes(ctx, {
        topicAttribute: opts.otlpTopicAttribute,
        codec: loadOtlpLogsCodec(),
        bodyLimit: opts.maxBodyBytes,
      }),
    );
    eventRoutes(app, ctx);
    subscribeRoutes(app, ctx);
  }
  return app;
}

/**
 * JSON bodies: JSON.parse speed, with the parser's own message on a syntax error, and
 * `__proto__` / `constructor.prototype` keys refused (they could poison object prototypes
 * in consumers of the stored payload).
 */
function parseJsonBody(
  _request: unknown,
  body: string,
  done: (err: Error | null, value?: unknown) => void,
): void {
  if (body.length === 0) {
    done(new AppError('invalid_json', 'the body is empty'));
    return;
  }
  try {
    done(null, sjson.parse(body, { protoAction: 'error', constructorAction: 'error' }));
  } catch (err) {
    const message = (err as Error).message;
    if (/forbidden (prototype|constructor) property/.test(message)) {
      done(
        new AppError(
          'invalid_body',
          'keys "__proto__" and "constructor.prototype" are refused (prototype poisoning)',
        ),
      );
    } else {
      done(new AppError('invalid_json', `the body is not valid JSON: ${message}`));
    }
  }
}
