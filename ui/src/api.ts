// The HTTP API the UI is a client of: the same endpoints Grafana and scripts use.
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { DiffFlamebearer, Flamebearer } from './flamebearer';
import { splitQuery } from './url';

const TENANT_KEY = 'flamelet.tenant';

/** The organisation (tenant) sent as `X-Scope-OrgID`, remembered in the browser. */
export function tenant(): string {
  return localStorage.getItem(TENANT_KEY) ?? '';
}

export function setTenant(value: string): void {
  if (value) localStorage.setItem(TENANT_KEY, value);
  else localStorage.removeItem(TENANT_KEY);
}

const TOKEN_KEY = 'flamelet.token';

/** The access token (`NAME.SECRET`) sent as a bearer credential when the server has
 * authentication on. Kept for the tab's session only: a token outlives no browser session. */
export function token(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export function setToken(value: string): void {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
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

function get(path: string, params: Record<string, string>): Promise<Response> {
  return send(`${path}?${new URLSearchParams(params).toString()}`, {});
}

/** Sends a request as the chosen organisation; an answer that is not a success throws its
 * reason. */
async function send(url: string, init: RequestInit): Promise<Response> {
  const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
  const org = tenant();
  if (org) headers['X-Scope-OrgID'] = org;
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const response = await fetch(url, { ...init, headers });
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
  /** With `groupBy`: one timeline per value of the label. */
  groups?: Record<string, { startTime: number; samples: number[]; durationDelta: number }> | null;
}

async function fetchRender(query: string, from: string, until: string, maxNodes: number, groupBy?: string): Promise<Render> {
  const params: Record<string, string> = { query, from, until, 'max-nodes': String(maxNodes), format: 'json' };
  if (groupBy) params.groupBy = groupBy;
  const r = await get('/pyroscope/render', params);
  return (await r.json()) as Render;
}

/** Render calls started before the views' code loaded (see main.tsx), each taken once. */
const early = new Map<string, Promise<Render>>();
const renderKey = (...args: unknown[]) => JSON.stringify([...args, tenant()]);

/** Starts the render call a view is about to make, so that it runs while the browser is
 * still loading the views' code. */
export function prefetchRender(query: string, from: string, until: string, maxNodes: number): void {
  const answer = fetchRender(query, from, until, maxNodes);
  // Its error is the view's to show, when it takes the answer.
  answer.catch(() => undefined);
  early.set(renderKey(query, from, until, maxNodes, undefined), answer);
}

export function render(query: string, from: string, until: string, maxNodes: number, groupBy?: string): Promise<Render> {
  const key = renderKey(query, from, until, maxNodes, groupBy);
  const started = early.get(key);
  if (started) {
    early.delete(key);
    return started;
  }
  return fetchRender(query, from, until, maxNodes, groupBy);
}

/** The call graph of a query as Graphviz text (`/pyroscope/render?format=dot`), keeping the
 * `maxNodes` functions with the largest cumulative values. */
export async function callGraph(query: string, from: string, until: string, maxNodes: number): Promise<string> {
  const r = await get('/pyroscope/render', { query, from, until, 'max-nodes': String(maxNodes), format: 'dot' });
  return r.text();
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

/** The merged profile of a query as pprof bytes (`SelectMergeProfile` in binary Connect, the
 * call Grafana's download uses): what `go tool pprof` opens. */
export async function mergedProfile(query: string, startMs: number, endMs: number): Promise<Blob> {
  const { profileType, selector } = splitQuery(query);
  // SelectMergeProfileRequest: 1 profile_typeID, 2 label_selector, 3 start, 4 end (ms).
  const body = new BinaryWriter()
    .tag(1, WireType.LengthDelimited)
    .string(profileType)
    .tag(2, WireType.LengthDelimited)
    .string(selector)
    .tag(3, WireType.Varint)
    .int64(startMs)
    .tag(4, WireType.Varint)
    .int64(endMs)
    .finish();
  const r = await send('/querier.v1.QuerierService/SelectMergeProfile', {
    method: 'POST',
    headers: { 'Content-Type': 'application/proto' },
    body,
  });
  return new Blob([await r.arrayBuffer()], { type: 'application/octet-stream' });
}

/** A Connect call in JSON (the querier's `LabelNames`, `LabelValues`, …; the recording rules'
 * service's methods). */
export async function connect<T>(method: string, request: unknown, service = 'querier.v1.QuerierService'): Promise<T> {
  const r = await send(`/${service}/${method}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(request),
  });
  return (await r.json()) as T;
}

/** Label names of the series that match `matchers` in [startMs, endMs] (`LabelNames`),
 * without the private `__…__` ones. */
export async function labelNames(matchers: string[], startMs: number, endMs: number): Promise<string[]> {
  const r = await connect<{ names?: string[] }>('LabelNames', {
    matchers,
    start: String(startMs),
    end: String(endMs),
  });
  return (r.names ?? []).filter((n) => !n.startsWith('__')).sort();
}

/** Values of label `name` on the series that match `matchers` (`LabelValues`). */
export async function labelValuesOf(name: string, matchers: string[], startMs: number, endMs: number): Promise<string[]> {
  const r = await connect<{ names?: string[] }>('LabelValues', {
    name,
    matchers,
    start: String(startMs),
    end: String(endMs),
  });
  return [...(r.names ?? [])].sort();
}

/** One profile type of an uploaded file, rendered (`POST /flamelet/adhoc`). */
export interface AdhocProfile {
  profileType: string;
  flamebearer: Flamebearer;
  metadata: Render['metadata'];
}

/** The flame graphs of `file` in `format` (as `/ingest` reads it), nothing stored. */
export async function renderUpload(file: Blob, format: string, maxNodes: number): Promise<AdhocProfile[]> {
  const params = new URLSearchParams({ 'max-nodes': String(maxNodes) });
  if (format) params.set('format', format);
  const r = await send(`/flamelet/adhoc?${params.toString()}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: file,
  });
  return ((await r.json()) as { profiles: AdhocProfile[] }).profiles;
}

/** A count of objects and their bytes. */
export interface Usage {
  objects: number;
  bytes: number;
}

/** One filing day of a tenant in the storage census (`flamelet::census::DayCensus`). */
export interface DayCensus {
  day: string;
  /** By level: l0, hour, day, replaced, manifest, quarantine. */
  levels: Record<string, Usage>;
  /** Uploads compaction has not merged yet. */
  uncompacted: Usage;
  oldest_uncompacted?: number;
  manifest_version?: number;
  /** When its newest manifest was published (ns). */
  last_compaction?: number;
  quarantined?: Array<{ key: string; reason: string; at: number }>;
  error?: string;
}

/** One tenant in the storage census. Times are nanoseconds since the epoch. */
export interface TenantCensus {
  tenant: string;
  levels: Record<string, Usage>;
  uncompacted: Usage;
  oldest_uncompacted?: number;
  last_compaction?: number;
  retention_deleted_days: number;
  days: DayCensus[];
}

/** What the bucket holds (`GET /flamelet/status`): the organisation's, or every tenant's. */
export interface Census {
  taken_at: number;
  tenants: TenantCensus[];
}

export async function storageStatus(): Promise<Census> {
  const r = await get('/flamelet/status', {});
  return (await r.json()) as Census;
}

/** A scrape target's or one of its profiles' state at the last scrape. */
export type Health = 'up' | 'down' | 'unknown';

/** One profile of a scrape target at its last scrape. */
export interface ProfileHealth {
  name: string;
  url: string;
  health: Health;
  duration_seconds: number;
  error: string;
  kind?: string;
  samples: number;
}

/** A pull-mode target and its last scrape (`GET /targets`). Times are nanoseconds since the
 * epoch; 0 for never. */
export interface TargetHealth {
  job: string;
  instance: string;
  tenant: string;
  labels: Record<string, string>;
  health: Health;
  last_scrape_nanos: number;
  last_scrape_duration_seconds: number;
  last_error: string;
  scrapes: number;
  failures: number;
  profiles: ProfileHealth[];
}

/** Every scrape target the server's `scrape_configs` name, with its health. */
export async function scrapeTargets(): Promise<TargetHealth[]> {
  const r = await get('/targets', {});
  return ((await r.json()) as { targets?: TargetHealth[] }).targets ?? [];
}
