/**
 * `Content-Encoding: gzip | deflate` on the ingest routes, as a Fastify preParsing hook that
 * swaps the request stream for an inflating one. The body limit is enforced on the INFLATED
 * bytes while inflating: the moment the output passes the limit the inflater is destroyed
 * and the request answers 413, so a small compressed body (a "gzip bomb") can never make the
 * server inflate or hold more than the limit. Fastify's own body reader then sees only the
 * inflated bytes, and its Content-Length check compares the compressed bytes read
 * (`receivedEncodedLength`, the documented preParsing contract).
 *
 * Outcomes: no encoding or `identity` -> the body as sent; `gzip`/`x-gzip`/`deflate` ->
 * inflated; any other encoding (or a list of several) -> 415 `unsupported_encoding`; a
 * truncated or corrupt stream -> 400 `invalid_encoding`; more than the limit inflated, or a
 * Content-Length over it (refused unread, as a plain body is) -> 413.
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { Readable } from 'node:stream';
import {
  createGunzip,
  createInflate,
  createInflateRaw,
  type Gunzip,
  type Inflate,
  type InflateRaw,
} from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../domain/errors.js';

/** The encodings a metric label may take (bounded, whatever clients send). */
export type EncodingLabel = 'identity' | 'gzip' | 'deflate' | 'other';

export function encodingLabel(header: string | string[] | undefined): EncodingLabel {
  const value = (Array.isArray(header) ? header.join(',') : (header ?? '')).trim().toLowerCase();
  if (value === '' || value === 'identity') return 'identity';
  if (value === 'gzip' || value === 'x-gzip') return 'gzip';
  if (value === 'deflate') return 'deflate';
  return 'other';
}

type PreParsingHook = (
  request: FastifyRequest,
  reply: FastifyReply,
  payload: Readable,
  done: (err: Error | null, stream?: Readable) => void,
) => void;

/** A preParsing hook decoding the body; `limit` is the most inflated bytes accepted. */
export function contentDecoder(limit: number): PreParsingHook {
  return (request, _reply, payload, done) => {
    const encoding = encodingLabel(request.headers['content-encoding']);
    if (encoding === 'identity') {
      done(null, payload);
      return;
    }
    if (encoding === 'other') {
      done(
        new AppError(
          'unsupported_encoding',
          `Content-Encoding "${String(request.headers['content-encoding'])}" is not supported; send gzip, deflate or no encoding`,
        ),
      );
      return;
    }
    // Fastify refuses a body whose Content-Length (compressed bytes) is over the limit before
    // reading it: left as sent, nothing inflates what is never read.
    if (Number(request.headers['content-length']) > limit) {
      done(null, payload);
      return;
    }
    done(null, inflating(payload, encoding, limit));
  };
}

/** Sniffs zlib vs raw deflate: RFC 9110 says zlib, but some clients send raw deflate. */
function isZlibHeader(chunk: Buffer): boolean {
  const [cmf, flg] = chunk;
  return (
    cmf !== undefined && flg !== undefined && (cmf & 0x0f) === 8 && (cmf * 256 + flg) % 31 === 0
  );
}

/** Passes inflated chunks on until `limit` bytes; reports the compressed bytes read. */
class InflatedLimit extends Transform {
  /** Read by Fastify's body reader for its Content-Length check (compressed bytes). */
  receivedEncodedLength = 0;
  private inflated = 0;

  constructor(
    private readonly limit: number,
    private readonly encodedBytes: () => number,
    private readonly overLimit: () => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.inflated += chunk.length;
    if (this.inflated > this.limit) {
      this.overLimit();
      callback();
      return;
    }
    this.receivedEncodedLength = this.encodedBytes();
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.receivedEncodedLength = this.encodedBytes();
    callback();
  }
}

/**
 * request -> inflater -> limiter. The limiter is what Fastify reads; errors of either stage
 * end it with an AppError, and the request stream is only unpiped, never destroyed (the
 * socket must stay usable to send the error response).
 */
function inflating(payload: Readable, encoding: 'gzip' | 'deflate', limit: number): Readable {
  let inflater: Gunzip | Inflate | InflateRaw | null = null;
  let failed = false;

  const fail = (err: AppError): void => {
    if (failed) return;
    failed = true;
    if (inflater !== null) {
      payload.unpipe(inflater);
      inflater.destroy();
    }
    // Keep reading (and discarding) the rest of the request so the connection can answer.
    payload.resume();
    limiter.destroy(err);
  };
  const limiter = new InflatedLimit(
    limit,
    () => inflater?.bytesWritten ?? 0,
    () => fail(new AppError('body_too_large', `the inflated body is larger than ${limit} bytes`)),
  );
  // Fastify listens for the limiter's errors only once it reads the body. A request refused
  // before that (415 for its content type) has its answer already: an error of the inflater
  // then has no one to tell, and must not be an unhandled 'error' event, which ends the
  // process (found by an outside probe).
  limiter.on('error', () => undefined);

  const start = (first: Buffer): void => {
    const z =
      encoding === 'gzip'
        ? createGunzip()
        : isZlibHeader(first)
          ? createInflate()
          : createInflateRaw();
    inflater = z;
    z.on('error', (cause: Error) =>
      fail(
        new AppError(
          'invalid_encoding',
          `the ${encoding} body is truncated or corrupt: ${cause.message}`,
          { cause },
        ),
      ),
    );
    z.pipe(limiter);
    z.write(first);
    payload.pipe(z);
  };

  // The zlib-or-raw choice needs the first bytes, so the pipeline starts on the first chunk.
  payload.once('data', (chunk: Buffer) => {
    payload.pause();
    start(chunk);
  });
  payload.once('end', () => {
    if (inflater === null) fail(new AppError('invalid_encoding', `the ${encoding} body is empty`));
  });
  payload.once('error', (cause: Error) =>
    fail(
      new AppError('invalid_encoding', `the request body broke off: ${cause.message}`, { cause }),
    ),
  );
  return limiter;
}
