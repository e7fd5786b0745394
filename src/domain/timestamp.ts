/**
 * RFC 3339 timestamps with a mandatory offset, normalised to UTC.
 *
 * Accepted: `2025-10-24T07:00:00+07:00`, `2025-10-24t00:00:00.123456z`, `2025-10-24 00:00:00Z`,
 * `...+0700`. Rejected: no offset (local time is ambiguous), impossible dates (Feb 30),
 * leap seconds (a JS Date cannot hold them), years outside 0001-9999 after normalisation.
 * Output keeps sub-millisecond digits the publisher sent, and always has at least three
 * fractional digits, so `2025-10-24T00:00:00Z` becomes `2025-10-24T00:00:00.000Z`.
 */

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;

/** Returns the normalised UTC form, or null when `text` is not a valid timestamp. */
export function normaliseTimestamp(text: string): string | null {
  const m = RFC3339.exec(text);
  if (m === null) return null;
  const [, y, mo, d, h, mi, s, frac = '', z, sign, oh = '0', om = '0'] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  const offHours = Number(oh);
  const offMinutes = Number(om);
  if (hour > 23 || minute > 59 || second > 59 || offHours > 23 || offMinutes > 59) return null;
  const local = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(local);
  // Date.UTC maps years 0-99 to 1900-1999; setUTCFullYear restores them for the check.
  check.setUTCFullYear(year);
  if (check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) return null;
  const offsetMs =
    z === undefined ? (sign === '-' ? -1 : 1) * (offHours * 60 + offMinutes) * 60_000 : 0;
  const utc = new Date(check.getTime() - offsetMs);
  const utcYear = utc.getUTCFullYear();
  if (utcYear < 1 || utcYear > 9999) return null;
  const base = utc.toISOString().slice(0, 19); // YYYY-MM-DDTHH:MM:SS
  const digits = frac.replace(/0+$/, '').padEnd(3, '0');
  return `${base}.${digits}Z`;
}
