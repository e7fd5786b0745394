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

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Returns the normalised UTC form, or null when `text` is not a valid timestamp. */
export function normaliseTimestamp(text: string): string | null {
  const m = RFC3339.exec(text);
  if (m === null) return null;
  const [
    ,
    y = '',
    mo = '',
    d = '',
    h = '',
    mi = '',
    s = '',
    frac = '',
    z,
    sign,
    oh = '0',
    om = '0',
  ] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const offHours = Number(oh);
  const offMinutes = Number(om);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59 || offHours > 23 || offMinutes > 59) {
    return null;
  }
  let digits = frac;
  if (digits.length > 3) digits = digits.replace(/0+$/, '');
  if (digits.length < 3) digits = digits.padEnd(3, '0');
  const offset = z === undefined ? (sign === '-' ? -1 : 1) * (offHours * 60 + offMinutes) : 0;
  if (offset === 0) return `${y}-${mo}-${d}T${h}:${mi}:${s}.${digits}Z`;
  // Date.UTC maps years 0-99 to 1900-1999; setUTCFullYear keeps them as written.
  const local = new Date(Date.UTC(2000, month - 1, day, Number(h), Number(mi), Number(s)));
  local.setUTCFullYear(year);
  const utc = new Date(local.getTime() - offset * 60_000);
  const utcYear = utc.getUTCFullYear();
  if (utcYear < 1 || utcYear > 9999) return null;
  return `${utc.toISOString().slice(0, 19)}.${digits}Z`;
}
