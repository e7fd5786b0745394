/**
 * Error registry: every error the API can answer with has a stable machine code, and this is
 * the one place that maps codes to HTTP statuses. Layers throw `AppError`; http/ renders it as
 * `{"error": code, "message": ..., "details": [...]}`.
 */

export const ERROR_STATUS = {
  invalid_json: 400,
  invalid_body: 400,
  validation_failed: 400,
  empty_batch: 400,
  invalid_query: 400,
  wait_unsupported: 400,
  invalid_encoding: 400,
  invalid_otlp: 400,
  /** The path has malformed percent-encoding. */
  invalid_url: 400,
  /** The HTTP framing itself is wrong (Content-Length, chunking): the connection is closed. */
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  body_too_large: 413,
  batch_too_large: 413,
  unsupported_media_type: 415,
  unsupported_encoding: 415,
  request_timeout: 408,
  headers_too_large: 431,
  internal: 500,
  queue_full: 503,
  unavailable: 503,
  timeout: 504,
  /** The queue did not confirm a write it may have made: resending is safe (dedup). */
  outcome_unknown: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** One bad item of a rejected request. `index` is the event's position in the request. */
export interface ErrorDetail {
  readonly index?: number;
  readonly field?: string;
  readonly message: string;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: readonly ErrorDetail[];
  /** Seconds a client should wait before retrying (503 only). */
  readonly retryAfter: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: readonly ErrorDetail[]; retryAfter?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = options.details ?? [];
    this.retryAfter = options.retryAfter;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}
