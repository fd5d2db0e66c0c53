// The single view: pick a service and a profile type, a range, and see its flame graph.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { createTheme, type GrafanaTheme2 } from '@grafana/data';
import { labelValues, render, setTenant, setToken, tenant, token, type Render } from './api';
import { toDataFrame, unitOf } from './frame';
import { Timeline } from './Timeline';
import { AdhocView } from './AdhocView';
import { CallGraphView } from './CallGraphView';
import { ComparisonView } from './ComparisonView';
import { DiffView } from './DiffView';
import { ExploreView } from './ExploreView';
import { StatusView } from './StatusView';
import { useLoad, useUrlState, type Load } from './hooks';
import { Export } from './Export';
import { QueryEditor } from './QueryEditor';
import { RangePicker } from './RangePicker';
import { Status } from './Status';
import { formatSingle, parseSingle, serviceOf, splitQuery, withService } from './url';
import { CreateMetric } from './CreateMetric';
import { Graph, type MenuButtons } from './Graph';
import { NodesField } from './NodesField';

function useDarkMode(): boolean {
  const query = window.matchMedia?.('(prefers-color-scheme: dark)');
  const [dark, setDark] = useState(query?.matches ?? false);
  useEffect(() => {
    if (!query) return;
    const on = (e: MediaQueryListEvent) => setDark(e.matches);
    query.addEventListener('change', on);
    return () => query.removeEventListener('change', on);
  }, [query]);
  return dark;
}

/** The page: the view its path names, in the shared frame (title, views, organisation). */
export function App() {
  const [org, setOrg] = useState(tenant());
  const dark = useDarkMode();
  const theme = useMemo(() => createTheme({ colors: { mode: dark ? 'dark' : 'light' } }), [dark]);
  const path = window.location.pathname.replace(/\/+$/, '') || '/';
  const diff = path === '/comparison-diff';
  const comparison = path === '/comparison';
  const explore = path === '/explore';
  const callGraph = path === '/call-graph';
  const adhoc = path === '/adhoc';
  const status = path === '/status';
  // Each view keeps its own URL parameters; switching carries the query over.
  const here = new URLSearchParams(window.location.search);
  const query = here.get('query') ?? here.get('leftQuery') ?? '';
  const carry = query ? `?query=${encodeURIComponent(query)}` : '';
  return (
    <div className={`app ${dark ? 'dark' : 'light'}`}>
      <nav>
        <h1>Flamelet</h1>
        <a href={`/${carry}`} aria-current={diff || comparison || explore || callGraph || adhoc || status ? undefined : 'page'}>
          Single
        </a>
        <a href={`/comparison${carry}`} aria-current={comparison ? 'page' : undefined}>
          Comparison
        </a>
        <a href={`/comparison-diff${carry}`} aria-current={diff ? 'page' : undefined}>
          Diff
        </a>
        <a href={`/explore${carry}`} aria-current={explore ? 'page' : undefined}>
          Tag explorer
        </a>
        <a href={`/call-graph${carry}`} aria-current={callGraph ? 'page' : undefined}>
          Call graph
        </a>
        <a href="/adhoc" aria-current={adhoc ? 'page' : undefined}>
          Ad hoc
        </a>
        <a href="/status" aria-current={status ? 'page' : undefined}>
          Status
        </a>
        <label className="org">
          Organisation
          <input
            aria-label="Organisation"
            placeholder="X-Scope-OrgID"
            defaultValue={org}
            onBlur={(e) => {
              setTenant(e.target.value.trim());
              setOrg(e.target.value.trim());
            }}
          />
        </label>
        {token() ? (
          <button
            type="button"
            className="sign-out"
            onClick={() => {
              setToken('');
              window.location.reload();
            }}
          >
            Sign out
          </button>
        ) : null}
      </nav>
      {diff ? (
        <DiffView org={org} theme={theme} />
      ) : adhoc ? (
        <AdhocView theme={theme} />
      ) : status ? (
        <StatusView org={org} />
      ) : callGraph ? (
        <CallGraphView org={org} />
      ) : explore ? (
        <ExploreView org={org} />
      ) : comparison ? (
        <ComparisonView org={org} theme={theme} />
      ) : (
        <SingleView org={org} theme={theme} />
      )}
    </div>
  );
}

interface ViewProps {
  org: string;
  theme: GrafanaTheme2;
}

function SingleView({ org, theme }: ViewProps) {
  const [view, setView] = useUrlState(parseSingle, formatSingle);
  const [services, setServices] = useState<Load<string[]>>({ state: 'idle' });
  const [types, setTypes] = useState<Load<string[]>>({ state: 'idle' });
  const { profileType, selector } = splitQuery(view.query);
  const service = serviceOf(selector);

  // The services and profile types with data in the range.
  useEffect(() => {
    let live = true;
    setServices({ state: 'loading' });
    setTypes({ state: 'loading' });
    Promise.all([labelValues('service_name', view.from, view.until), labelValues('__name__', view.from, view.until)])
      .then(([s, t]) => {
        if (!live) return;
        setServices({ state: 'done', value: s });
        setTypes({ state: 'done', value: t });
        // Without a query, start with the first service and type, as Pyroscope does.
        if (!view.query && s.length > 0 && t.length > 0) {
          const preferred = t.find((x) => x.startsWith('process_cpu:cpu:')) ?? t[0];
          setView({ ...view, query: `${preferred}${withService('{}', s[0])}` }, true);
        }
      })
      .catch((e: Error) => {
        if (!live) return;
        setServices({ state: 'error', message: e.message });
        setTypes({ state: 'error', message: e.message });
      });
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [view.from, view.until, org]);

  // The flame graph and timeline.
  const answer = useLoad<Render>(
    view.query ? () => render(view.query, view.from, view.until, view.maxNodes) : null,
    [view.query, view.from, view.until, view.maxNodes, org],
  );

  const frame = useMemo(() => {
    if (answer.state !== 'done') return undefined;
    const { flamebearer, metadata } = answer.value;
    return toDataFrame(flamebearer, unitOf(metadata.name, metadata.units));
  }, [answer]);

  const error =
    answer.state === 'error' ? answer.message : services.state === 'error' ? services.message : undefined;
  const graph = useRef<HTMLElement>(null);
  // "Create metric from this function" on every node but the root.
  const [metricFor, setMetricFor] = useState<string | null>(null);
  const menu = useCallback<MenuButtons>(
    (clicked) =>
      clicked.item.level === 0
        ? []
        : [{ label: 'Create metric from this function', icon: 'chart-line', onClick: () => setMetricFor(clicked.label) }],
    [],
  );
  // Stable props: the graph renders again only when they change.
  const exportMenu = useMemo(
    () =>
      answer.state === 'done' ? (
        <Export
          answer={answer.value}
          query={view.query}
          from={view.from}
          until={view.until}
          canvas={() => graph.current?.querySelector('canvas') ?? null}
        />
      ) : null,
    [answer, view.query, view.from, view.until],
  );

  return (
    <>
      <header>
        <label>
          Service
          <select
            aria-label="Service"
            value={service ?? ''}
            onChange={(e) => setView({ ...view, query: `${profileType}${withService(selector, e.target.value)}` })}
          >
            {service === undefined ? <option value="">—</option> : null}
            {(services.state === 'done' ? services.value : service ? [service] : []).map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Profile type
          <select
            aria-label="Profile type"
            value={profileType}
            onChange={(e) => setView({ ...view, query: `${e.target.value}${selector}` })}
          >
            {(types.state === 'done' ? types.value : profileType ? [profileType] : []).map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <QueryEditor
          label="Query"
          value={view.query}
          from={view.from}
          until={view.until}
          onSubmit={(query) => setView({ ...view, query })}
        />
        <RangePicker from={view.from} until={view.until} onChange={(from, until) => setView({ ...view, from, until })} />
        <NodesField label="Max nodes" value={view.maxNodes} onChange={(maxNodes) => setView({ ...view, maxNodes })} />
      </header>
      <Status load={answer} error={error} />
      {answer.state === 'done' && answer.value.timeline ? (
        <Timeline
          timeline={answer.value.timeline}
          onSelect={(from, until) => setView({ ...view, from: String(from), until: String(until) })}
        />
      ) : null}
      {answer.state === 'done' && answer.value.flamebearer.numTicks === 0 ? (
        <div className="empty">No data in this range.</div>
      ) : null}
      {frame && answer.state === 'done' && answer.value.flamebearer.numTicks > 0 ? (
        <main className="flamegraph" ref={graph}>
          <Graph data={frame} theme={theme} extra={exportMenu} menu={menu} />
        </main>
      ) : null}
      {metricFor !== null ? <CreateMetric fn={metricFor} query={view.query} onClose={() => setMetricFor(null)} /> : null}
    </>
  );
}
