/**
 * Tells "PostgreSQL is down or too slow" apart from a bug, so callers can answer 503 with
 * Retry-After (and workers back off) instead of a 500.
 */
import { AppError } from '../../domain/errors.js';

/** Node socket errors and PostgreSQL SQLSTATEs that mean "try again later". */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, recovering)
  '57014', // query_canceled (statement_timeout)
  '53300', // too_many_connections
  '40001', // serialization_failure
  '40P01', // deadlock_detected
]);

const TRANSIENT_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Query read timeout',
  'Client has encountered a connection error',
  'Connection ended',
];

export function isOutage(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (TRANSIENT_CODES.has(code) || code.startsWith('08'))) return true;
  if (err instanceof AggregateError) return err.errors.some(isOutage);
  return TRANSIENT_MESSAGES.some((m) => err.message.includes(m));
}

/** Wraps a transient failure as AppError('unavailable'); anything else passes unchanged. */
export function asOutage(err: unknown, what: string): unknown {
  if (err instanceof AppError || !isOutage(err)) return err;
  return new AppError('unavailable', `the store (PostgreSQL) is unreachable or slow (${what})`, {
    retryAfter: 1,
    cause: err,
  });
}
