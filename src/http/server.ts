/**
 * Fastify setup: JSON only, limits from config, one error handler producing the SPEC error
 * shape, access control (access.ts), and the routes. Schemas are compiled once here at
 * startup. With a TLS certificate the same app is served over HTTPS.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { isUtf8 } from 'node:buffer';
import { createServer as createHttpsServer } from 'node:https';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Logger } from 'pino';
import { AppError } from '../domain/errors.js';
import { loadOtlpLogsCodec, type OtlpLogsCodec } from '../otlp/schema.js';
import { redactUrl, registerAccess, type AccessPolicy } from './access.js';
import type { HttpContext } from './context.js';
import { answerClientError, sendError, toAppError } from './errors.js';
import { registerOpenApi } from './openapi.js';
import { parseNdjson } from './ndjson.js';
import { RefusedBodies } from './refused-bodies.js';
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
  readonly access: AccessPolicy;
  /** PEM certificate and key: serve HTTPS. */
  readonly tls: { readonly cert: Buffer; readonly key: Buffer } | null;
}

/**
 * Logged request objects never carry a key: the Authorization header is censored and the
 * URL's access_token value replaced (Fastify's request serializer logs the URL).
 */
const LOG_REDACT = {
  paths: ['req.headers.authorization', 'headers.authorization', 'authorization'],
  censor: '[redacted]',
};

function logSafeRequest(req: IncomingMessage | { method?: string; url?: string }): {
  method: string | undefined;
  url: string;
} {
  return { method: req.method, url: redactUrl(req.url ?? '') };
}

export async function createServer(
  ctx: HttpContext,
  opts: ServerOptions,
): Promise<FastifyInstance> {
  // An error answered before the body is in (413, 401...) must reach a client still sending it.
  const refused = new RefusedBodies();
  const answer = (reply: FastifyReply, error: AppError): FastifyReply => {
    refused.keepReading(reply);
    return sendError(reply, error);
  };
  const app = Fastify<Server, IncomingMessage, ServerResponse, FastifyBaseLogger>({
    loggerInstance: opts.logger.child(
      {},
      { redact: LOG_REDACT, serializers: { req: logSafeRequest } },
    ),
    ...(opts.tls === null
      ? {}
      : {
          // Fastify's own `https` option would change the instance's server type; a
          // factory keeps one FastifyInstance type for both and is what `https` does.
          serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) =>
            createHttpsServer({ cert: opts.tls?.cert, key: opts.tls?.key }, handler),
        }),
    // One log line per request would cost more than the request itself at 10k req/s.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.maxBodyBytes,
    keepAliveTimeout: 65_000,
    return503OnClosing: true,
    // What is refused before any route runs keeps the error shape too: a path with malformed
    // percent-encoding (Fastify's frameworkErrors) and bad HTTP framing (Node's clientError).
    frameworkErrors: (error, _request, reply) => {
      void answer(reply, toAppError(error));
    },
    clientErrorHandler: answerClientError,
    // /events/:topic/:event_id with both at their 200-character limit, percent-encoded.
    routerOptions: { maxParamLength: 1_300 },
    ajv: {
      customOptions: {
        removeAdditional: false,
        coerceTypes: true,
        useDefaults: true,
        allErrors: true,
        // Route schemas are ours and constant: checking them against the meta-schema (which
        // Ajv compiles first) was ~half of compiling the routes at every start.
        validateSchema: false,
      },
    },
  });
  app.removeContentTypeParser(['text/plain', 'application/json']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    try {
      done(null, parseJsonText(utf8Body(request, body as Buffer)));
    } catch (err) {
      done(err as Error);
    }
  });
  // For /publish (the OTLP scope removes it: otlp.ts). Body limit enforced by Fastify as for
  // JSON; lines that are not JSON are the route's to list with the other lines' problems.
  const maxLines = ctx.validate.rules.limits.maxEvents;
  app.addContentTypeParser('application/x-ndjson', { parseAs: 'buffer' }, (request, body, done) => {
    try {
      done(null, parseNdjson(utf8Body(request, body as Buffer), maxLines));
    } catch (err) {
      done(err as Error);
    }
  });

  app.setErrorHandler((err, request, reply) => {
    const error = toAppError(err);
    if (isIngestRoute(request.routeOptions.url) && error.status >= 400 && error.status < 500) {
      ctx.intake.rejected++;
      ctx.metrics.rejected(error.code);
    }
    // Outages answer every request the same way (503/504 with Retry-After, /readyz false):
    // one log line per request would flood the log while they last.
    if (error.status >= 500 && !OUTAGE_CODES.has(error.code)) {
      request.log.error({ err: error.cause ?? err, url: redactUrl(request.url) }, 'request failed');
    }
    return answer(reply, error);
  });
  app.addHook('preClose', (done) => {
    refused.destroyAll();
    done();
  });
  app.setNotFoundHandler((request, reply) =>
    answer(
      reply,
      new AppError('not_found', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`),
    ),
  );
  // Swagger's routes cannot declare their access: the docs stay open (SPEC "Access").
  app.addHook('onRoute', (route) => {
    if (route.url === '/docs' || route.url.startsWith('/docs/') || route.url === '/openapi.json') {
      route.config = { ...route.config, access: 'open' };
    }
  });
  // Ajv's coercion reads an integer parameter the way Number() does, so ?after=0x10 was 16,
  // ?after=+5 was 5 and ?limit=%201 was 1 (SPEC: bad parameters are 400). Every route whose
  // query schema has top-level integer fields (all of ours) checks their raw text is decimal
  // digits before Ajv reads it.
  app.addHook('onRoute', (route) => {
    const fields = integerQueryFields(route.schema?.querystring);
    if (fields.length === 0) return;
    const check = decimalQuery(fields);
    const own = route.preValidation;
    route.preValidation =
      own === undefined ? check : [check, ...(Array.isArray(own) ? own : [own])];
  });
  registerAccess(app, opts.access);
  // Ajv coerces "Infinity" and "1e400" to Infinity for an integer parameter and then skips
  // minimum/maximum for a non-finite number, so ?limit=Infinity reached the store (500) and
  // ?after=1e400 passed (200). After validation a query value is a number only where its
  // schema says number, so one check here covers every route.
  app.addHook('preHandler', (request, _reply, done) => {
    const query = request.query;
    if (query !== null && typeof query === 'object') {
      for (const [field, value] of Object.entries(query)) {
        if (typeof value === 'number' && !Number.isFinite(value)) {
          done(
            new AppError('invalid_query', 'invalid querystring parameters', {
              details: [{ field, message: 'must be a finite number' }],
            }),
          );
          return;
        }
      }
    }
    done();
  });

  if (opts.publicApi) registerOpenApi(app, opts.version);
  opsRoutes(app, ctx);
  if (opts.publicApi) {
    publishRoutes(app, ctx);
    await app.register(
      otlpRoutes(ctx, {
        topicAttribute: opts.otlpTopicAttribute,
        codec: lazyOtlpCodec(app),
        bodyLimit: opts.maxBodyBytes,
      }),
    );
    eventRoutes(app, ctx);
    subscribeRoutes(app, ctx);
  }
  return app;
}

/**
 * The OTLP codec, compiled from proto/ on first use or just after the server listens,
 * whichever comes first: compiling it before listening was ~40 ms of every start (/healthz
 * never needs it), and warming it right after keeps the first /v1/logs request from paying
 * for it. A Proxy, so it follows whatever the codec's interface holds.
 */
function lazyOtlpCodec(app: FastifyInstance): OtlpLogsCodec {
  let codec: OtlpLogsCodec | null = null;
  const load = (): OtlpLogsCodec => (codec ??= loadOtlpLogsCodec());
  app.addHook('onListen', (done) => {
    setImmediate(load);
    done();
  });
  return new Proxy({} as OtlpLogsCodec, {
    get(_target, prop) {
      const real = load();
      const value: unknown = Reflect.get(real, prop);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      return method.bind(real);
    },
  });
}

/**
 * JSON bodies: JSON.parse speed, with the parser's own message on a syntax error. Keys such
 * as `__proto__` or `constructor` are ordinary data in a log line: JSON.parse makes them own
 * properties (it never assigns a prototype), the payload is stored as the text
 * JSON.stringify gives back, and reads splice that text unparsed, so they round-trip exactly.
 */
function parseJsonText(body: string): unknown {
  if (body.length === 0) throw new AppError('invalid_json', 'the body is empty');
  try {
    return JSON.parse(body);
  } catch (err) {
    throw new AppError('invalid_json', `the body is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * The body's text, decoded as strict UTF-8 (RFC 8259 §8.1: JSON exchanged between systems
 * is UTF-8). Fastify's string mode replaced every invalid byte with U+FFFD, silently: two
 * ids that differed only in a Latin-1 byte became one id, and the second event was dropped
 * as a duplicate of the first. A charset parameter other than UTF-8 (or its subset ASCII)
 * is refused with 415 rather than read as something it is not.
 */
function utf8Body(request: FastifyRequest, body: Buffer): string {
  const charset = charsetOf(request.headers['content-type']);
  if (charset !== null && !UTF8_CHARSETS.has(charset)) {
    throw new AppError(
      'unsupported_media_type',
      `charset=${charset} is not accepted: send the body as UTF-8 (RFC 8259), with no charset or charset=utf-8`,
    );
  }
  if (!isUtf8(body)) {
    throw new AppError(
      'invalid_json',
      'the body is not valid UTF-8, which JSON must be (RFC 8259)',
    );
  }
  return body.toString('utf8');
}

const UTF8_CHARSETS = new Set(['utf-8', 'utf8', 'us-ascii']);
const OUTAGE_CODES: ReadonlySet<string> = new Set(['queue_full', 'unavailable', 'outcome_unknown']);

/** The charset parameter of a Content-Type, lowercased and unquoted; null when absent. */
function charsetOf(contentType: string | undefined): string | null {
  const match = /;\s*charset\s*=\s*("?)([^";\s]*)\1/i.exec(contentType ?? '');
  return match === null ? null : (match[2] ?? '').toLowerCase();
}

/** The names of the integer properties of a route's query schema (TypeBox: JSON Schema). */
function integerQueryFields(schema: unknown): string[] {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> } | undefined)
    ?.properties;
  if (properties === undefined) return [];
  return Object.entries(properties)
    .filter(([, p]) => p.type === 'integer')
    .map(([name]) => name);
}

const DECIMAL = /^[0-9]+$/;

/**
 * A preValidation hook that hands Ajv "NaN" for each of `fields` (when present once) not
 * written as decimal digits: Ajv then refuses it as not an integer, among every other
 * problem of the query (allErrors), in the one error shape.
 */
function decimalQuery(
  fields: readonly string[],
): (request: FastifyRequest, reply: FastifyReply, done: () => void) => void {
  return (request, _reply, done) => {
    const query = request.query as Record<string, unknown>;
    for (const f of fields) {
      const value = query[f];
      if (typeof value === 'string' && !DECIMAL.test(value)) query[f] = 'NaN';
    }
    done();
  };
}
