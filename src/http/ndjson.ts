/**
 * `Content-Type: application/x-ndjson` bodies for POST /publish: one event per line, blank
 * lines ignored, `\r\n` accepted. Every line that is not JSON is listed (all-or-nothing, like
 * the JSON body); the lines that are become an NdjsonBody, whose `lines` map each event back
 * to its 0-based line number so that `details[].index` names the line, not the position
 * among non-blank lines.
 */
import { AppError, type ErrorDetail } from '../domain/errors.js';

export class NdjsonBody {
  constructor(
    /** The parsed lines, in order, blank ones left out. */
    readonly items: readonly unknown[],
    /** `lines[i]` is the 0-based line number of `items[i]`. */
    readonly lines: readonly number[],
  ) {}

  /** The same error with every `index` turned from an item position into a line number. */
  relabel(err: AppError): AppError {
    if (err.details.length === 0) return err;
    const details = err.details.map((d) =>
      d.index === undefined ? d : { ...d, index: this.lines[d.index] ?? d.index },
    );
    return new AppError(err.code, err.message.replace(/\bevents\b/, 'lines'), {
      details,
      ...(err.retryAfter !== undefined ? { retryAfter: err.retryAfter } : {}),
      cause: err.cause,
    });
  }
}

export function parseNdjson(text: string): NdjsonBody {
  const items: unknown[] = [];
  const lines: number[] = [];
  const details: ErrorDetail[] = [];
  let line = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const raw = text.slice(start, end);
    if (raw.trim().length > 0) {
      try {
        // JSON.parse keeps `__proto__` keys as own data properties, as a JSON body does.
        items.push(JSON.parse(raw));
        lines.push(line);
      } catch (err) {
        details.push({ index: line, message: lineProblem((err as Error).message) });
      }
    }
    line++;
    start = end + 1;
  }
  if (details.length > 0) {
    throw new AppError(
      'invalid_json',
      `${details.length} line(s) are not valid JSON; nothing was accepted`,
      { details },
    );
  }
  return new NdjsonBody(items, lines);
}

function lineProblem(message: string): string {
  return `is not valid JSON: ${message}`;
}
