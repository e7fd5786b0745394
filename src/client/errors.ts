/**
 * Typed errors of the publisher. Every error has a stable `code` callers can switch on, and
 * keeps what caused it in `cause`, so a log line can show the whole chain.
 *
 * Codes
 * - `rejected`          the server refused the batch with a 4xx; never retried. `details`
 *                       lists the bad items as the server reported them.
 * - `retries_exhausted` every allowed attempt failed with a retryable error (or the total
 *                       time budget ran out); `cause` is the last attempt's error.
 * - `closed`            publish() after close().
 * - `aborted`           the caller's AbortSignal fired.
 * - `network`, `timeout`, `server_error`, `unavailable`, `bad_response`: one failed attempt;
 *                       they reach the caller only as the `cause` of `retries_exhausted`.
 */

export type PublisherErrorCode =
  | 'rejected'
  | 'retries_exhausted'
  | 'closed'
  | 'aborted'
  | 'network'
  | 'timeout'
  | 'server_error'
  | 'unavailable'
  | 'bad_response';

/** One bad item of a rejected request, as the server reports it. */
export interface RejectionDetail {
  readonly index?: number;
  readonly field?: string;
  readonly message: string;
}

export class PublisherError extends Error {
  readonly code: PublisherErrorCode;

  constructor(code: PublisherErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PublisherError';
    this.code = code;
  }
}

/** The server answered 4xx: the batch is wrong, and sending it again cannot help. */
export class RejectedError extends PublisherError {
  readonly status: number;
  /** The server's machine code (`validation_failed`, `unauthorized`, ...), if it sent one. */
  readonly serverCode: string | undefined;
  readonly details: readonly RejectionDetail[];

  constructor(
    status: number,
    serverCode: string | undefined,
    message: string,
    details: readonly RejectionDetail[],
  ) {
    super('rejected', `HTTP ${status}${serverCode ? ` ${serverCode}` : ''}: ${message}`);
    this.name = 'RejectedError';
    this.status = status;
    this.serverCode = serverCode;
    this.details = details;
  }
}

/**
 * One attempt failed in a way worth retrying. `maybeDelivered` is true when the server may
 * have enqueued the batch anyway (a timeout or a dropped connection after the body went
 * out), so a resend can show up as extra duplicates; false when it certainly did not
 * (connection refused, 503).
 */
export class AttemptError extends PublisherError {
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly maybeDelivered: boolean;

  constructor(
    code: 'network' | 'timeout' | 'server_error' | 'unavailable' | 'bad_response',
    message: string,
    options: {
      status?: number;
      retryAfterMs?: number;
      maybeDelivered: boolean;
      cause?: unknown;
    },
  ) {
    super(code, message, { cause: options.cause });
    this.name = 'AttemptError';
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
    this.maybeDelivered = options.maybeDelivered;
  }
}

export class RetriesExhaustedError extends PublisherError {
  readonly attempts: number;
  readonly elapsedMs: number;

  constructor(attempts: number, elapsedMs: number, cause: unknown) {
    const last = cause instanceof Error ? cause.message : String(cause);
    super(
      'retries_exhausted',
      `gave up after ${attempts} attempt(s) in ${Math.round(elapsedMs)} ms: ${last}`,
      { cause },
    );
    this.name = 'RetriesExhaustedError';
    this.attempts = attempts;
    this.elapsedMs = elapsedMs;
  }
}
