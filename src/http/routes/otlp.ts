/**
 * POST /v1/logs: OTLP/HTTP logs (protobuf or OTLP JSON, optionally gzip/deflate) as
 * events. Same intake as /publish: the same access check, every record checked by the same
 * rules (the validator's `rules`, applied by the mapping), the request all-or-nothing, answered only once every record is durable,
 * 503 + Retry-After on backpressure (OTLP exporters honour both). Success is 200 with an
 * empty ExportLogsServiceResponse in the request's encoding (OTLP/HTTP requires 200);
 * errors keep logsieve's JSON error shape (exporters act on the status and Retry-After).
 *
 * Registered as its own Fastify plugin so that the protobuf body parser exists only here.
 */
import type { FastifyInstance, FastifyPluginCallback } from 'fastify';
import { AppError } from '../../domain/errors.js';
import { ErrorSchema, NoQuerySchema } from '../../domain/schemas.js';
import { countRecords, mapLogsRequest, type MapOptions } from '../../otlp/map.js';
import type { OtlpLogsCodec } from '../../otlp/schema.js';
import type { OtlpExportRequest } from '../../otlp/types.js';
import { mapLogsProtobuf, type WireResult } from '../../otlp/wire.js';
import type { HttpContext } from '../context.js';
import { contentDecoder } from '../encoding.js';
import { countIngest, formatLabel } from '../ingest.js';
import { ingestAccess } from './publish.js';

export interface OtlpRouteOptions {
  /** OTLP_TOPIC_ATTRIBUTE: the resource attribute naming the topic. */
  readonly topicAttribute: string;
  /** Compiled once at start-up (src/otlp/schema.ts). */
  readonly codec: OtlpLogsCodec;
  readonly bodyLimit: number;
}

export function otlpRoutes(ctx: HttpContext, opts: OtlpRouteOptions): FastifyPluginCallback {
  const { codec } = opts;
  return (scope: FastifyInstance, _options, done) => {
    // Not an OTLP encoding: refused with 415 before any line is parsed (this scope only).
    scope.removeContentTypeParser('application/x-ndjson');
    scope.addContentTypeParser(
      'application/x-protobuf',
      { parseAs: 'buffer' },
      (_request, body, done) => done(null, body),
    );
    const counted = countIngest(ctx.metrics, '/v1/logs');
    scope.post(
      '/v1/logs',
      {
        // A full key, as for /publish (src/http/access.ts).
        config: { access: 'write' },
        schema: {
          summary: 'OTLP/HTTP logs export (OpenTelemetry)',
          description:
            'An ExportLogsServiceRequest as application/x-protobuf or OTLP JSON, optionally gzip/deflate. ' +
            'Each log record becomes one event (see the README for the mapping). 200 with an ' +
            'ExportLogsServiceResponse in the request encoding once every record is durable.',
          querystring: NoQuerySchema,
          response: {
            200: {
              description:
                'ExportLogsServiceResponse (empty: full success) in the request encoding.',
              content: {
                'application/x-protobuf': { schema: { type: 'string', format: 'binary' } },
                'application/json': { schema: { type: 'object' } },
              },
            },
            '4xx': ErrorSchema,
            '5xx': ErrorSchema,
          },
        },
        onRequest: ingestAccess(ctx),
        preParsing: contentDecoder(opts.bodyLimit),
        onResponse: counted,
      },
      async (request, reply) => {
        const format = formatLabel(request.headers['content-type']);
        const success = (): unknown =>
          format === 'protobuf'
            ? reply
                .code(200)
                .type('application/x-protobuf')
                .send(Buffer.from(codec.successProtobuf))
            : reply.code(200).type('application/json').send(codec.successJson);
        // The mapping applies /publish's rules as it builds each event (src/otlp/map.ts).
        const mapOptions = {
          topicAttribute: opts.topicAttribute,
          receivedAt: new Date(),
          rules: ctx.validate.rules,
        };
        const {
          records,
          events: accepted,
          problems,
        } = mapBody(codec, format, request.body, mapOptions);
        // An export of no records is valid OTLP (nothing to store).
        if (records === 0) return success();
        if (problems.length > 0) {
          const invalid = new Set(problems.map((p) => p.index)).size;
          throw new AppError(
            'validation_failed',
            `${invalid} of ${records} log records are invalid; nothing was accepted`,
            { details: problems },
          );
        }
        await ctx.queue.enqueue(accepted);
        ctx.metrics.accepted(accepted);
        ctx.metrics.ingestAccepted('/v1/logs', format, accepted.length);
        return success();
      },
    );
    done();
  };
}

/**
 * The body's records as events (or problems). A protobuf body takes the wire reader
 * (src/otlp/wire.ts) when it can; any other, and any protobuf body it does not take, is
 * decoded by protobufjs and its messages mapped (src/otlp/map.ts), with the record limit
 * checked before mapping. The wire reader takes no more than the limit, so both paths refuse
 * the same requests with the same errors.
 */
function mapBody(
  codec: OtlpLogsCodec,
  format: string,
  body: unknown,
  opts: MapOptions,
): WireResult {
  if (format === 'protobuf' && Buffer.isBuffer(body) && codec.wire !== null) {
    const fast = mapLogsProtobuf(body, opts, codec.wire);
    if (fast !== null) return fast;
  }
  const decoded = decode(codec, format, body);
  const records = countRecords(decoded);
  const { maxEvents } = opts.rules.limits;
  if (records > maxEvents) {
    throw new AppError(
      'batch_too_large',
      `${records} log records in one request; the limit is ${maxEvents}`,
    );
  }
  if (records === 0) return { records, events: [], problems: [] };
  return { records, ...mapLogsRequest(decoded, opts) };
}

function decode(codec: OtlpLogsCodec, format: string, body: unknown): OtlpExportRequest {
  if (format === 'protobuf' && Buffer.isBuffer(body)) return codec.decodeProtobuf(body);
  if (format === 'json') return codec.decodeJson(body);
  throw new AppError(
    'unsupported_media_type',
    'send OTLP logs as application/x-protobuf or application/json',
  );
}
