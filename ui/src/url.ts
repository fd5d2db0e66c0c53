// The single view's state, kept in the URL (Pyroscope's parameter names), so that a view can be
// shared and back/forward work.

export interface SingleState {
  /** Profile type and selector, e.g. `process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="app"}`. */
  query: string;
  from: string;
  until: string;
  maxNodes: number;
}

export const DEFAULT_RANGE = { from: 'now-1h', until: 'now' };
export const DEFAULT_MAX_NODES = 8192;

/** Reads the state from a query string (`?query=…&from=…`). */
export function parseSingle(search: string): SingleState {
  const p = new URLSearchParams(search);
  const maxNodes = Number(p.get('maxNodes') ?? p.get('max-nodes') ?? DEFAULT_MAX_NODES);
  return {
    query: p.get('query') ?? '',
    from: p.get('from') || DEFAULT_RANGE.from,
    until: p.get('until') || DEFAULT_RANGE.until,
    maxNodes: Number.isInteger(maxNodes) && maxNodes > 0 ? maxNodes : DEFAULT_MAX_NODES,
  };
}

/** Writes the state as a query string; defaults are left out except the range. */
export function formatSingle(s: SingleState): string {
  const p = new URLSearchParams();
  if (s.query) p.set('query', s.query);
  p.set('from', s.from);
  p.set('until', s.until);
  if (s.maxNodes !== DEFAULT_MAX_NODES) p.set('maxNodes', String(s.maxNodes));
  return `?${p.toString()}`;
}

/** The profile type and the selector's braces of a query. */
export function splitQuery(query: string): { profileType: string; selector: string } {
  const brace = query.indexOf('{');
  if (brace < 0) return { profileType: query.trim(), selector: '{}' };
  return { profileType: query.slice(0, brace).trim(), selector: query.slice(brace).trim() };
}

/** The `service_name` a selector names with `=`, if any. */
export function serviceOf(selector: string): string | undefined {
  const m = /service_name\s*=\s*"((?:[^"\\]|\\.)*)"/.exec(selector);
  return m ? m[1].replace(/\\(.)/g, '$1') : undefined;
}

/** A selector with `name="value"`, replacing an `=` matcher of that label that is there;
 * `service_name` goes first, as Pyroscope writes it, other labels last. */
export function withLabel(selector: string, name: string, value: string): string {
  const quoted = `${name}="${value.replace(/["\\]/g, '\\$&')}"`;
  const inner = selector.trim().replace(/^\{|\}$/g, '').trim();
  const same = new RegExp(`^${name.replace(/\./g, '\\.')}\\s*=[^~]`);
  const rest = inner
    .split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/)
    .map((m) => m.trim())
    .filter((m) => m && !same.test(m));
  return `{${(name === 'service_name' ? [quoted, ...rest] : [...rest, quoted]).join(', ')}}`;
}

/** A selector with `service_name="service"`, replacing one that is there. */
export function withService(selector: string, service: string): string {
  return withLabel(selector, 'service_name', service);
}

/** The tag explorer's state (`/explore?query=…&groupBy=…&from=…&until=…`). */
export interface ExploreState {
  query: string;
  groupBy: string;
  from: string;
  until: string;
}

export function parseExplore(search: string): ExploreState {
  const p = new URLSearchParams(search);
  return {
    query: p.get('query') ?? '',
    groupBy: p.get('groupBy') ?? '',
    from: p.get('from') || DEFAULT_RANGE.from,
    until: p.get('until') || DEFAULT_RANGE.until,
  };
}

export function formatExplore(s: ExploreState): string {
  const p = new URLSearchParams();
  if (s.query) p.set('query', s.query);
  if (s.groupBy) p.set('groupBy', s.groupBy);
  p.set('from', s.from);
  p.set('until', s.until);
  return `?${p.toString()}`;
}

/** The diff and comparison views' state: Pyroscope's `leftQuery`, `leftFrom`, … parameters. */
export interface PairState {
  left: { query: string; from: string; until: string };
  right: { query: string; from: string; until: string };
  maxNodes: number;
}

export function parsePair(search: string): PairState {
  const p = new URLSearchParams(search);
  const side = (s: 'left' | 'right') => ({
    query: p.get(`${s}Query`) ?? p.get('query') ?? '',
    from: p.get(`${s}From`) || p.get('from') || DEFAULT_RANGE.from,
    until: p.get(`${s}Until`) || p.get('until') || DEFAULT_RANGE.until,
  });
  const maxNodes = Number(p.get('maxNodes') ?? p.get('max-nodes') ?? DEFAULT_MAX_NODES);
  return {
    left: side('left'),
    right: side('right'),
    maxNodes: Number.isInteger(maxNodes) && maxNodes > 0 ? maxNodes : DEFAULT_MAX_NODES,
  };
}

export function formatPair(s: PairState): string {
  const p = new URLSearchParams();
  for (const [name, side] of [['left', s.left], ['right', s.right]] as const) {
    p.set(`${name}Query`, side.query);
    p.set(`${name}From`, side.from);
    p.set(`${name}Until`, side.until);
  }
  if (s.maxNodes !== DEFAULT_MAX_NODES) p.set('maxNodes', String(s.maxNodes));
  return `?${p.toString()}`;
}
