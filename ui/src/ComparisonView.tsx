// The comparison view (`/comparison?leftQuery=…&rightQuery=…&leftFrom=…`): two flame graphs
// side by side, each with its own query, range and timeline, and one search for both.
import { useEffect, useMemo, useRef } from 'react';
import type { GrafanaTheme2 } from '@grafana/data';
import { render, type Render, type Side } from './api';
import { SideEditor } from './SideEditor';
import { useLoad, useUrlState } from './hooks';
import { Status } from './Status';
import { toDataFrame, unitOf } from './frame';
import { Timeline } from './Timeline';
import { formatPair, parsePair, type PairState } from './url';
import { Graph } from './Graph';

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
          <Graph data={frame} theme={theme} vertical />
        </div>
      ) : null}
    </section>
  );
}

/** The flame graph widget's own search field (@grafana/flamegraph 11.3's header input). */
const SEARCH_FIELD = 'input[placeholder="Search..."]';

/** Types what is typed into one graph's search into the others' too. The widget keeps its
 * search to itself (no prop), so the other inputs get the value as if typed: React's value
 * setter, then an input event. */
function useSyncedSearch(root: React.RefObject<HTMLElement>) {
  useEffect(() => {
    const el = root.current;
    if (!el) return;
    const setValue = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')?.set;
    let syncing = false;
    const onInput = (e: Event) => {
      const source = e.target;
      if (syncing || !(source instanceof HTMLInputElement) || !source.matches(SEARCH_FIELD)) return;
      syncing = true;
      for (const other of el.querySelectorAll<HTMLInputElement>(SEARCH_FIELD)) {
        if (other === source || other.value === source.value) continue;
        setValue?.call(other, source.value);
        other.dispatchEvent(new Event('input', { bubbles: true }));
      }
      syncing = false;
    };
    el.addEventListener('input', onInput);
    return () => el.removeEventListener('input', onInput);
  }, [root]);
}

export function ComparisonView({ org, theme }: Props) {
  const [view, setView] = useUrlState<PairState>(parsePair, formatPair);
  const panes = useRef<HTMLDivElement>(null);
  useSyncedSearch(panes);
  return (
    <div className="panes" ref={panes}>
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
