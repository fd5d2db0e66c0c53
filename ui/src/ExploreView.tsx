// The tag explorer (`/explore?query=…&groupBy=<label>`): the query's total over time split by
// the values of one label, a table of each value's total, share, mean and deviation per step,
// and a link from each value to its flame graph.
import { useEffect, useMemo, useState } from 'react';
import { formattedValueToString, getValueFormat } from '@grafana/data';
import { labelNames, render, type Render } from './api';
import { groupStats, type TimelineData } from './explore';
import { unitOf } from './frame';
import { useLoad, useUrlState } from './hooks';
import { QueryEditor } from './QueryEditor';
import { RangePicker } from './RangePicker';
import { Status } from './Status';
import { toMillis } from './time';
import { DEFAULT_MAX_NODES, formatExplore, formatSingle, parseExplore, serviceOf, splitQuery, withLabel, withService } from './url';

const COLOURS = ['#3d71d9', '#e0752d', '#56a64b', '#d44a3a', '#8f3bb8', '#1f9e9e', '#c9a800', '#d66ba8', '#6e7a8a', '#7ab317'];

/** Each value's timeline as a line, over the same steps. */
function Chart({ series }: { series: Array<{ value: string; timeline: TimelineData; colour: string }> }) {
  const n = Math.max(1, ...series.map((s) => s.timeline.samples.length));
  const max = Math.max(1, ...series.flatMap((s) => s.timeline.samples));
  const height = 160;
  return (
    <svg className="chart" aria-label="Values over time" viewBox={`0 0 ${n} ${height}`} preserveAspectRatio="none">
      {series.map((s) => (
        <polyline
          key={s.value}
          fill="none"
          stroke={s.colour}
          strokeWidth={2}
          vectorEffect="non-scaling-stroke"
          points={s.timeline.samples.map((v, i) => `${i + 0.5},${height - (v / max) * (height - 4)}`).join(' ')}
        >
          <title>{s.value}</title>
        </polyline>
      ))}
    </svg>
  );
}

export function ExploreView({ org }: { org: string }) {
  const [view, setView] = useUrlState(parseExplore, formatExplore);
  const { selector } = splitQuery(view.query);
  const service = serviceOf(selector);
  const [labels, setLabels] = useState<string[]>([]);

  // The labels to group by: those of the service's series in the range.
  useEffect(() => {
    let live = true;
    const now = Date.now();
    const start = toMillis(view.from, now) ?? now - 3_600_000;
    const end = toMillis(view.until, now) ?? now;
    const scope = service ? [withService('{}', service)] : [];
    labelNames(scope, start, end)
      .then((names) => live && setLabels(names.filter((n) => n !== 'service_name')))
      .catch(() => live && setLabels([]));
    return () => {
      live = false;
    };
  }, [service, view.from, view.until, org]);

  // Only the timelines are used: the smallest flame graph is asked for.
  const answer = useLoad<Render>(
    view.query && view.groupBy ? () => render(view.query, view.from, view.until, 1, view.groupBy) : null,
    [view.query, view.groupBy, view.from, view.until, org],
  );
  const groups = useMemo(() => (answer.state === 'done' ? (answer.value.groups ?? {}) : {}), [answer]);
  const rows = useMemo(() => groupStats(groups), [groups]);
  const unit = answer.state === 'done' ? unitOf(answer.value.metadata.name, answer.value.metadata.units) : 'short';
  const format = (v: number) => formattedValueToString(getValueFormat(unit)(v));
  const colour = (i: number) => COLOURS[i % COLOURS.length];

  return (
    <>
      <header>
        <QueryEditor
          label="Query"
          value={view.query}
          from={view.from}
          until={view.until}
          onSubmit={(query) => setView({ ...view, query })}
        />
        <label>
          Group by
          <select aria-label="Group by" value={view.groupBy} onChange={(e) => setView({ ...view, groupBy: e.target.value })}>
            <option value="">—</option>
            {(labels.includes(view.groupBy) || !view.groupBy ? labels : [view.groupBy, ...labels]).map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
        </label>
        <RangePicker from={view.from} until={view.until} onChange={(from, until) => setView({ ...view, from, until })} />
      </header>
      {!view.query ? <div className="empty">Enter a query (a profile type and selector) to explore.</div> : null}
      {view.query && !view.groupBy ? <div className="empty">Choose a label to group by.</div> : null}
      <Status load={answer} />
      {answer.state === 'done' && rows.length === 0 ? <div className="empty">No values of {view.groupBy} in this range.</div> : null}
      {rows.length > 0 ? (
        <>
          <Chart series={rows.map((r, i) => ({ value: r.value, timeline: groups[r.value], colour: colour(i) }))} />
          <table className="explore" aria-label="Values">
            <thead>
              <tr>
                <th>{view.groupBy}</th>
                <th>Total</th>
                <th>Share</th>
                <th>Mean per step</th>
                <th>Std. deviation per step</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r, i) => (
                <tr key={r.value}>
                  <td>
                    <span className="swatch" style={{ background: colour(i) }} />
                    <a
                      href={`/${formatSingle({
                        query: `${splitQuery(view.query).profileType}${withLabel(selector, view.groupBy, r.value)}`,
                        from: view.from,
                        until: view.until,
                        maxNodes: DEFAULT_MAX_NODES,
                      })}`}
                      title="Open its flame graph"
                    >
                      {r.value}
                    </a>
                  </td>
                  <td>{format(r.total)}</td>
                  <td>{`${(r.share * 100).toFixed(2)} %`}</td>
                  <td>{format(r.mean)}</td>
                  <td>{format(r.stddev)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </>
  );
}
