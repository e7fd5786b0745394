/** Public surface of the logsieve client (`logsieve/client`). */
export { Publisher, createPublisher } from './publisher.js';
export type { PublisherOptions, SendResult } from './publisher.js';
export { PublisherError, RejectedError, AttemptError, RetriesExhaustedError } from './errors.js';
export type { PublisherErrorCode, RejectionDetail } from './errors.js';
export { uuidv7, createUuidV7, uuidv7Timestamp } from './uuidv7.js';
export type { UuidV7Options } from './uuidv7.js';
export { backoffDelay, parseRetryAfter, DEFAULT_BACKOFF } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export type { PublishEvent, ServerStats, PublisherCounters, RequestInfo } from './types.js';
