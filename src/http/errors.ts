/** Maps every error a request can meet to the SPEC error shape, in one place. */
import { maxHeaderSize, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionError, FastifyError, FastifyReply } from 'fastify';
import { AppError, type ErrorDetail } from '../domain/errors.js';

interface ValidationIssue {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as Partial<FastifyError> & {
    validation?: ValidationIssue[];
    validationContext?: string;
  };
  switch (e.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError(
        'unsupported_media_type',
        'send the body as application/json or application/x-ndjson (POST /v1/logs: application/x-protobuf or application/json)',
      );
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('body_too_large', 'the request body is larger than the configured limit');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('invalid_json', 'the body is empty');
    case 'FST_ERR_BAD_URL':
      return new AppError('invalid_url', 'the path has malformed percent-encoding');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      // The only parametric route is /events/:topic/:event_id, whose names are 200 at most.
      return new AppError('not_found', 'no event has a topic or event_id that long');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError('invalid_json', e.message ?? 'the body is not valid JSON');
    default:
      break;
  }
  if (Array.isArray(e.validation)) {
    const details = validationDetails(e.validation);
    return new AppError('invalid_query', `invalid ${e.validationContext ?? 'request'} parameters`, {
      details,
    });
  }
  if (err instanceof SyntaxError || (e.statusCode === 400 && /JSON/i.test(e.message ?? ''))) {
    return new AppError('invalid_json', `the body is not valid JSON: ${e.message ?? ''}`.trim());
  }
  if (e.statusCode === 413) return new AppError('body_too_large', e.message ?? 'request too large');
  if (e.statusCode === 415)
    return new AppError('unsupported_media_type', e.message ?? 'unsupported');
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
    return new AppError('invalid_body', e.message ?? 'bad request');
  }
  return new AppError('internal', 'internal error', { cause: err });
}

/**
 * One detail per problem: a choice of constants (`order`: asc | desc, an anyOf of consts for
 * Ajv, which reports each branch and then the anyOf) becomes one "must be one of" naming the
 * values; identical details are listed once.
 */
function validationDetails(issues: readonly ValidationIssue[]): ErrorDetail[] {
  const allowed = new Map<string, unknown[]>();
  for (const v of issues) {
    if (v.keyword !== 'const') continue;
    const field = fieldOf(v);
    allowed.set(field, [...(allowed.get(field) ?? []), v.params.allowedValue]);
  }
  const seen = new Set<string>();
  const details: ErrorDetail[] = [];
  for (const v of issues) {
    const field = fieldOf(v);
    const choices = allowed.get(field);
    const message =
      choices !== undefined && (v.keyword === 'const' || v.keyword === 'anyOf')
        ? `must be one of: ${choices.map(String).join(', ')}`
        : (v.message ?? 'is invalid');
    const key = `${field}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    details.push({ field, message });
  }
  return details;
}

function fieldOf(v: ValidationIssue): string {
  if (typeof v.params.missingProperty === 'string') return v.params.missingProperty;
  if (typeof v.params.additionalProperty === 'string') return v.params.additionalProperty;
  return v.instancePath.replace(/^\//, '') || '(request)';
}

export function sendError(reply: FastifyReply, error: AppError): FastifyReply {
  if (error.retryAfter !== undefined) void reply.header('retry-after', String(error.retryAfter));
  // RFC 9110 11.6.1: a 401 names the scheme that would be accepted (src/http/access.ts).
  if (error.status === 401) void reply.header('www-authenticate', 'Bearer realm="logsieve"');
  return reply
    .code(error.status)
    .type('application/json; charset=utf-8')
    .send({ error: error.code, message: error.message, details: error.details });
}

/**
 * A request Node's HTTP parser refused before Fastify saw it (the server's 'clientError': a
 * Content-Length that is not a number or beside chunking, a bad chunk, headers over
 * maxHeaderSize), answered in the SPEC shape where Fastify's default handler answers in its
 * own. The framing is lost, so nothing after it can be read: the answer says
 * `Connection: close` and the socket is destroyed, as Node and Fastify do.
 */
export function answerClientError(err: ConnectionError, socket: Socket): void {
  // A reset connection has nobody to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const error =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new AppError('headers_too_large', `the request headers are over ${maxHeaderSize} bytes`)
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new AppError('request_timeout', 'the request did not arrive in time')
        : new AppError('bad_request', `malformed HTTP request (${err.code})`);
  if (socket.writable) {
    const body = JSON.stringify({ error: error.code, message: error.message, details: [] });
    socket.write(
      `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
