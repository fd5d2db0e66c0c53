// The call graph (`/call-graph?query=…&from=…&until=…&maxNodes=…`): the `format=dot` answer
// laid out by Graphviz (compiled to WebAssembly, loaded when the view opens) as an SVG that
// pans and zooms, with a search that marks the matching functions.
import { useEffect, useMemo, useRef, useState } from 'react';
import { callGraph } from './api';
import { useLoad, useUrlState } from './hooks';
import { QueryEditor } from './QueryEditor';
import { RangePicker } from './RangePicker';
import { Status } from './Status';
import { formatSingle, parseSingle, type SingleState } from './url';
import { NodesField } from './NodesField';

/** pprof's default node count: a graph of more functions is hard to read. */
const DEFAULT_CALL_GRAPH_NODES = 80;

function parseCallGraph(search: string): SingleState {
  const p = new URLSearchParams(search);
  const given = p.has('maxNodes') || p.has('max-nodes');
  return { ...parseSingle(search), ...(given ? {} : { maxNodes: DEFAULT_CALL_GRAPH_NODES }) };
}

/** The function a Graphviz node stands for: the first line of its label. */
function functionOf(node: Element): string {
  return node.querySelector('text')?.textContent ?? '';
}

export function CallGraphView({ org }: { org: string }) {
  const [view, setView] = useUrlState(parseCallGraph, formatSingle);
  const [search, setSearch] = useState('');
  const [zoom, setZoom] = useState({ scale: 1, x: 0, y: 0 });
  const [layoutError, setLayoutError] = useState<string | null>(null);
  const box = useRef<HTMLDivElement>(null);
  const drag = useRef<{ x: number; y: number } | null>(null);

  const dot = useLoad<string>(
    view.query ? () => callGraph(view.query, view.from, view.until, view.maxNodes) : null,
    [view.query, view.from, view.until, view.maxNodes, org],
  );
  // Lay the graph out; Graphviz's WebAssembly is its own chunk, fetched on first use.
  const [svg, setSvg] = useState<SVGSVGElement | null>(null);
  useEffect(() => {
    setSvg(null);
    setLayoutError(null);
    if (dot.state !== 'done') return;
    let live = true;
    import('@viz-js/viz')
      .then((viz) => viz.instance())
      .then((viz) => {
        if (!live) return;
        const element = viz.renderSVGElement(dot.value);
        element.removeAttribute('width');
        element.removeAttribute('height');
        setSvg(element);
        setZoom({ scale: 1, x: 0, y: 0 });
      })
      .catch((e: Error) => live && setLayoutError(`Graphviz could not lay out the call graph: ${e.message}`));
    return () => {
      live = false;
    };
  }, [dot]);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    el.replaceChildren(...(svg ? [svg] : []));
  }, [svg]);

  // Mark the functions that match the search; the rest are dimmed while one is typed. The
  // function nodes are `N1`, `N2`, …; the legend box is a node of its own.
  const nodes = useMemo(
    () => (svg ? [...svg.querySelectorAll('g.node')].filter((n) => /^N\d+$/.test(n.querySelector('title')?.textContent ?? '')) : []),
    [svg],
  );
  const matches = useMemo(() => {
    const q = search.trim().toLowerCase();
    let n = 0;
    for (const node of nodes) {
      const hit = q !== '' && functionOf(node).toLowerCase().includes(q);
      node.classList.toggle('match', hit);
      node.classList.toggle('dim', q !== '' && !hit);
      if (hit) n += 1;
    }
    return n;
  }, [nodes, search]);
  if (svg) svg.style.transform = `translate(${zoom.x}px, ${zoom.y}px) scale(${zoom.scale})`;

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
        <RangePicker from={view.from} until={view.until} onChange={(from, until) => setView({ ...view, from, until })} />
        <NodesField label="Nodes" value={view.maxNodes} onChange={(maxNodes) => setView({ ...view, maxNodes })} />
        <label>
          Search functions
          <input aria-label="Search functions" value={search} onChange={(e) => setSearch(e.target.value)} />
        </label>
        {search.trim() ? <span className="matches" aria-live="polite">{`${matches} of ${nodes.length} match`}</span> : null}
      </header>
      {!view.query ? <div className="empty">Enter a query (a profile type and selector) to see its call graph.</div> : null}
      <Status load={dot} error={layoutError ?? undefined} />
      {dot.state === 'done' && !svg && !layoutError ? <div className="loading">Laying out the graph…</div> : null}
      <div
        className="callgraph"
        ref={box}
        aria-label="Call graph"
        title="Drag to pan, scroll to zoom"
        onWheel={(e) => {
          const factor = e.deltaY < 0 ? 1.15 : 1 / 1.15;
          setZoom((z) => ({ ...z, scale: Math.min(20, Math.max(0.05, z.scale * factor)) }));
        }}
        onMouseDown={(e) => (drag.current = { x: e.clientX - zoom.x, y: e.clientY - zoom.y })}
        onMouseMove={(e) => {
          if (drag.current) setZoom((z) => ({ ...z, x: e.clientX - drag.current!.x, y: e.clientY - drag.current!.y }));
        }}
        onMouseUp={() => (drag.current = null)}
        onMouseLeave={() => (drag.current = null)}
      />
    </>
  );
}
