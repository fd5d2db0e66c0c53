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
