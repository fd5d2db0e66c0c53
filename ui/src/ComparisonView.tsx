// The comparison view (`/comparison?leftQuery=…&rightQuery=…&leftFrom=…`): two flame graphs
// side by side, each with its own query, range and timeline.
import { useMemo } from 'react';
import type { GrafanaTheme2 } from '@grafana/data';
import { FlameGraph } from '@grafana/flamegraph';
import { render, type Render, type Side } from './api';
import { SideEditor } from './SideEditor';
import { useLoad, useUrlState } from './hooks';
import { Status } from './Status';
import { toDataFrame, unitOf } from './frame';
import { Timeline } from './Timeline';
import { formatPair, parsePair, type PairState } from './url';

interface Props {
  org: string;
  theme: GrafanaTheme2;
}

/** One side: its editor, timeline and flame graph. */
function Pane({
  name,
  side,
  maxNodes,
  org,
  theme,
  onChange,
}: {
  name: string;
  side: Side;
  maxNodes: number;
  org: string;
  theme: GrafanaTheme2;
  onChange: (s: Side) => void;
}) {
  const answer = useLoad<Render>(
    side.query ? () => render(side.query, side.from, side.until, maxNodes) : null,
    [side.query, side.from, side.until, maxNodes, org],
  );
  const frame = useMemo(() => {
    if (answer.state !== 'done') return undefined;
    const { flamebearer, metadata } = answer.value;
    return toDataFrame(flamebearer, unitOf(metadata.name, metadata.units));
  }, [answer]);
  return (
    <section className="pane" aria-label={name}>
      <SideEditor name={name} side={side} onChange={onChange} />
      <Status load={answer} />
      {answer.state === 'done' && answer.value.timeline ? (
        <Timeline
          timeline={answer.value.timeline}
          onSelect={(from, until) => onChange({ ...side, from: String(from), until: String(until) })}
        />
      ) : null}
      {frame ? (
        <div className="flamegraph">
          <FlameGraph data={frame} getTheme={() => theme} vertical />
        </div>
      ) : null}
    </section>
  );
}

export function ComparisonView({ org, theme }: Props) {
  const [view, setView] = useUrlState<PairState>(parsePair, formatPair);
  return (
    <div className="panes">
      <Pane
        name="Baseline"
        side={view.left}
        maxNodes={view.maxNodes}
        org={org}
        theme={theme}
        onChange={(left) => setView({ ...view, left })}
      />
      <Pane
        name="Comparison"
        side={view.right}
        maxNodes={view.maxNodes}
        org={org}
        theme={theme}
        onChange={(right) => setView({ ...view, right })}
      />
    </div>
  );
}
