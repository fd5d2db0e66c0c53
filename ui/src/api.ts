// The HTTP API the UI is a client of: the same endpoints Grafana and scripts use.
import type { DiffFlamebearer, Flamebearer } from './flamebearer';

const TENANT_KEY = 'flamelet.tenant';

/** The organisation (tenant) sent as `X-Scope-OrgID`, remembered in the browser. */
export function tenant(): string {
  return localStorage.getItem(TENANT_KEY) ?? '';
}

export function setTenant(value: string): void {
  if (value) localStorage.setItem(TENANT_KEY, value);
  else localStorage.removeItem(TENANT_KEY);
}

/** An API answer that was not a success, with the server's one-line reason. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function get(path: string, params: Record<string, string>): Promise<Response> {
  const headers: Record<string, string> = {};
  const org = tenant();
  if (org) headers['X-Scope-OrgID'] = org;
  const url = `${path}?${new URLSearchParams(params).toString()}`;
  const response = await fetch(url, { headers });
  if (!response.ok) {
    const text = (await response.text()).trim();
    let message = text;
    try {
      // Connect errors are JSON with a message.
      message = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
      // Plain text.
    }
    throw new ApiError(response.status, `${response.status}: ${message || response.statusText}`);
  }
  return response;
}

/** Values of a label over the range; `__name__` gives the profile type IDs. */
export async function labelValues(label: string, from: string, until: string): Promise<string[]> {
  const r = await get('/pyroscope/label-values', { label, from, until });
  const values = (await r.json()) as string[] | null;
  return [...(values ?? [])].sort();
}

/** A render answer: the flame graph and the timeline of its total. */
export interface Render {
  flamebearer: Flamebearer;
  metadata: { units: string; name: string; sampleRate: number };
  timeline: { startTime: number; samples: number[]; durationDelta: number } | null;
}

export async function render(query: string, from: string, until: string, maxNodes: number): Promise<Render> {
  const r = await get('/pyroscope/render', {
    query,
    from,
    until,
    'max-nodes': String(maxNodes),
    format: 'json',
  });
  return (await r.json()) as Render;
}

/** A diff answer (`/pyroscope/render-diff`). */
export interface DiffRender {
  flamebearer: DiffFlamebearer;
  metadata: { units: string; name: string; sampleRate: number };
}

/** One side of a comparison: its query and range. */
export interface Side {
  query: string;
  from: string;
  until: string;
}

export async function renderDiff(left: Side, right: Side, maxNodes: number): Promise<DiffRender> {
  const r = await get('/pyroscope/render-diff', {
    leftQuery: left.query,
    leftFrom: left.from,
    leftUntil: left.until,
    rightQuery: right.query,
    rightFrom: right.from,
    rightUntil: right.until,
    'max-nodes': String(maxNodes),
  });
  return (await r.json()) as DiffRender;
}
