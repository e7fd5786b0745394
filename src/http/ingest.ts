/**
 * What the ingest routes (POST /publish, POST /v1/logs) share besides access: which routes
 * they are (rejections count in /stats `rejected`), and the bounded labels their metrics use
 * per route, body format and content encoding.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Metrics } from '../metrics.js';
import { encodingLabel } from './encoding.js';

export const INGEST_ROUTES: ReadonlySet<string> = new Set(['/publish', '/v1/logs']);

export function isIngestRoute(url: string | undefined): boolean {
  return url !== undefined && INGEST_ROUTES.has(url);
}

export type FormatLabel = 'json' | 'ndjson' | 'protobuf' | 'other';

export function formatLabel(contentType: string | undefined): FormatLabel {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'application/json') return 'json';
  if (type === 'application/x-ndjson') return 'ndjson';
  if (type === 'application/x-protobuf') return 'protobuf';
  return 'other';
}

/** An onResponse hook counting the request by route, format, encoding and status. */
export function countIngest(
  metrics: Metrics,
  route: string,
): (request: FastifyRequest, reply: FastifyReply, done: () => void) => void {
  return (request, reply, done) => {
    metrics.ingestRequest({
      route,
      format: formatLabel(request.headers['content-type']),
      encoding: encodingLabel(request.headers['content-encoding']),
      status: reply.statusCode,
    });
    done();
  };
}
