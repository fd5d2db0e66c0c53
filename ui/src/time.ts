// Range ends as the API takes them (`now-1h`, Unix seconds, ms, µs, ns, `YYYYMMDD`) and as a
// person reads them.

const UNIT_SECONDS: Record<string, number> = {
  s: 1,
  m: 60,
  h: 3600,
  d: 86_400,
  w: 7 * 86_400,
  M: 30 * 86_400,
  y: 365 * 86_400,
};

/** A range end in milliseconds since the epoch, read as the server reads `from`/`until`
 * (for the calls that take milliseconds, such as Connect's); `undefined` if it is not one. */
export function toMillis(t: string, nowMs: number): number | undefined {
  const v = t.trim();
  if (v === 'now') return nowMs;
  const relative = /^now-(\d+)([smhdwMy])$/.exec(v);
  if (relative) return nowMs - Number(relative[1]) * UNIT_SECONDS[relative[2]] * 1000;
  const day = /^([12]\d{3})(\d{2})(\d{2})$/.exec(v);
  if (day) return Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3]));
  if (!/^\d+$/.test(v)) return undefined;
  // Unix time by magnitude: seconds, milliseconds, microseconds or nanoseconds.
  const n = Number(v);
  if (n < 1e11) return n * 1000;
  if (n < 1e14) return n;
  if (n < 1e17) return Math.floor(n / 1e3);
  return Math.floor(n / 1e6);
}

/** A range end as a person reads it: Unix seconds as a UTC date and time. */
export function describeTime(t: string): string {
  if (!/^\d{9,10}$/.test(t)) return t;
  return `${new Date(Number(t) * 1000).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** A range end as a person types it, in the API's form: `now`, `now-2h`, Unix times and
 * `YYYYMMDD` as they are; `YYYY-MM-DD`, `YYYY-MM-DD HH:MM` or `…:SS` (UTC, a `T` or a
 * trailing `UTC`/`Z` allowed) as Unix seconds; `undefined` if it is none of these. */
export function fromTyped(text: string): string | undefined {
  const v = text.trim();
  if (toMillis(v, 0) !== undefined) return v;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?\s*(?:UTC|Z)?$/i.exec(v);
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0'] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  // Date.UTC rolls 2023-02-31 over into March: a date that is not one is refused.
  const back = new Date(ms);
  if (back.getUTCMonth() !== Number(mo) - 1 || back.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    return undefined;
  }
  return String(ms / 1000);
}
