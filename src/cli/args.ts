/** Flag helpers for the CLI: one clear message per bad flag, thrown as UsageError. */

export const DEFAULT_URL = 'http://127.0.0.1:8080';

/** Bad command line; main() prints the message and exits with status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** `--url a --url b,c` -> [a, b, c]; the default when none is given. */
export function urlList(values: readonly string[] | undefined): string[] {
  const urls = (values ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
  for (const u of urls) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new UsageError(`--url: not a URL: ${u}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new UsageError(`--url: want http:// or https://, got ${u}`);
    }
  }
  return urls.length > 0 ? urls : [DEFAULT_URL];
}

export function list(
  name: string,
  value: string | undefined,
  fallback: readonly string[],
): string[] {
  if (value === undefined) return [...fallback];
  const items = value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (items.length === 0) throw new UsageError(`--${name}: needs at least one value`);
  return items;
}

export function integer(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name}: want an integer from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

export function decimal(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
  maxExclusive = false,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  const tooBig = maxExclusive ? n >= max : n > max;
  if (value.trim() === '' || !Number.isFinite(n) || n < min || tooBig) {
    throw new UsageError(
      `--${name}: want a number from ${min} to ${max}${maxExclusive ? ' (exclusive)' : ''}, got "${value}"`,
    );
  }
  return n;
}
