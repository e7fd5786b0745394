/**
 * Access control: every route declares what it needs in its route config,
 * `config: { access: 'write' | 'read' | 'metrics' | 'open' }`, and one onRequest hook enforces
 * it. A route that declares nothing is treated as a write when its method changes state and
 * as a read otherwise, so a new route is closed until it says otherwise.
 *
 * Rules (SPEC "Access"):
 * - no keys configured (neither API_KEYS nor READ_API_KEYS): everything is open.
 * - 'write' needs a full key (API_KEYS): 401 without or with an unknown key, 403 with a
 *   read-only key (READ_API_KEYS).
 * - 'read' needs a key from either list (401 otherwise), unless PUBLIC_READS=true.
 * - 'metrics' is a read that METRICS_PUBLIC=true opens alone.
 * - 'open' is never checked (health, dashboard page, docs).
 *
 * Keys are compared as SHA-256 digests with timingSafeEqual against every configured key, so
 * neither the key's length nor which key matched leaks through timing. The key comes from
 * `Authorization: Bearer <key>`, or, on routes that set `queryToken: true` (/subscribe: an
 * EventSource cannot set headers), from `?access_token=<key>`. No key is ever logged: see
 * `redactUrl` and the logger redaction in server.ts.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../domain/errors.js';

export type Access = 'write' | 'read' | 'metrics' | 'open';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What a caller needs to use this route; see src/http/access.ts. */
    access?: Access;
    /** Also accept the key as `?access_token=` (SSE clients cannot send headers). */
    queryToken?: boolean;
  }
}

export interface AccessPolicy {
  readonly fullKeys: readonly string[];
  readonly readKeys: readonly string[];
  readonly publicReads: boolean;
  readonly metricsPublic: boolean;
}

type Grant = 'full' | 'read' | 'none';

const digest = (key: string): Buffer => createHash('sha256').update(key).digest();

/** Which list a key belongs to; every configured digest is compared, match or not. */
function keyMatcher(policy: AccessPolicy): (key: string | undefined) => Grant {
  const full = policy.fullKeys.map(digest);
  const read = policy.readKeys.map(digest);
  return (key) => {
    if (key === undefined) return 'none';
    const given = digest(key);
    let isFull = false;
    let isRead = false;
    for (const d of full) isFull = timingSafeEqual(d, given) || isFull;
    for (const d of read) isRead = timingSafeEqual(d, given) || isRead;
    return isFull ? 'full' : isRead ? 'read' : 'none';
  };
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

function presentedKey(request: FastifyRequest, queryToken: boolean): string | undefined {
  const header = request.headers.authorization;
  if (header !== undefined) return BEARER.exec(header)?.[1] ?? '';
  if (!queryToken) return undefined;
  const token = (request.query as Record<string, unknown> | undefined)?.access_token;
  return typeof token === 'string' ? token : undefined;
}

/** The access a route needs: its declaration, else by method (closed by default). */
export function accessOf(method: string, declared: Access | undefined): Access {
  if (declared !== undefined) return declared;
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS' ? 'read' : 'write';
}

/** Adds the onRequest hook that enforces each route's declared access. */
export function registerAccess(app: FastifyInstance, policy: AccessPolicy): void {
  const configured = policy.fullKeys.length + policy.readKeys.length > 0;
  if (!configured) return;
  const match = keyMatcher(policy);
  app.addHook('onRequest', (request, _reply, done) => {
    const config = request.routeOptions.config;
    const access = accessOf(request.method, config.access);
    if (access === 'open') return done();
    if (access === 'read' && policy.publicReads) return done();
    if (access === 'metrics' && (policy.publicReads || policy.metricsPublic)) return done();
    // Not-found requests have no route: answer 404 as usual; there is nothing to guard.
    if (request.is404) return done();
    const key = presentedKey(request, config.queryToken === true);
    const grant = match(key);
    if (grant === 'none') {
      const message =
        key === undefined
          ? 'this server needs an API key: send Authorization: Bearer <key>'
          : 'unknown API key';
      return done(new AppError('unauthorized', message));
    }
    if (access === 'write' && grant !== 'full') {
      return done(new AppError('forbidden', 'this key is read-only; writing needs a full key'));
    }
    done();
  });
}

/** A request URL safe to log: the value of `access_token` is replaced. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]access_token=)[^&#]*/gi, '$1[redacted]');
}
