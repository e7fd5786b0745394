/**
 * `Content-Type: application/x-ndjson` bodies for POST /publish: one event per line, blank
 * lines ignored, `\r\n` accepted. The lines that are JSON become an NdjsonBody, whose `lines`
 * map each event back to its 0-based line number so that `details[].index` names the line,
 * not the position among non-blank lines; the lines that are not are kept as problems, so
 * that the route lists them beside the other lines' invalid events (all-or-nothing, every
 * bad line named, like the JSON body's every bad item).
 */
import { AppError, type ErrorDetail } from '../domain/errors.js';

export class NdjsonBody {
  constructor(
    /** The parsed lines, in order, blank ones left out. */
    readonly items: readonly unknown[],
    /** `lines[i]` is the 0-based line number of `items[i]`. */
    readonly lines: readonly number[],
    /** One problem per line that is not JSON, in line order. */
    readonly notJson: readonly ErrorDetail[] = [],
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

  /**
   * The answer when some lines are not JSON: 400 invalid_json listing them and, in line
   * order among them, the problems `invalid` (the parsed lines' validation error, if any) found.
   */
  notJsonError(invalid: AppError | null): AppError {
    const others = invalid?.code === 'validation_failed' ? this.relabel(invalid).details : [];
    const details = [...this.notJson, ...others].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
    const bad = new Set(details.map((d) => d.index)).size;
    return new AppError(
      'invalid_json',
      `${this.notJson.length} line(s) are not valid JSON` +
        (bad > this.notJson.length ? `, ${bad - this.notJson.length} more invalid` : '') +
        '; nothing was accepted',
      { details },
    );
  }
}

/**
 * Parses `text`; past `maxLines` non-blank lines it stops with 413 batch_too_large, so a body
 * of millions of short bad lines costs at most `maxLines` parse attempts and as many details.
 */
export function parseNdjson(text: string, maxLines: number): NdjsonBody {
  const items: unknown[] = [];
  const lines: number[] = [];
  const notJson: ErrorDetail[] = [];
  let line = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const raw = text.slice(start, end);
    if (raw.trim().length > 0) {
      if (items.length + notJson.length === maxLines) {
        throw new AppError(
          'batch_too_large',
          `more than ${maxLines} lines in one request; the limit is ${maxLines}`,
        );
      }
      try {
        // JSON.parse keeps `__proto__` keys as own data properties, as a JSON body does.
        items.push(JSON.parse(raw));
        lines.push(line);
      } catch (err) {
        notJson.push({
          index: line,
          field: '(event)',
          message: lineProblem((err as Error).message),
        });
      }
    }
    line++;
    start = end + 1;
  }
  return new NdjsonBody(items, lines, notJson);
}

function lineProblem(message: string): string {
  return `is not valid JSON: ${message}`;
}
