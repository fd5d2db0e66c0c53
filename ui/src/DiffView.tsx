// The diff view (`/comparison-diff?leftQuery=…&rightQuery=…&leftFrom=…`): the diff flame
// graph of two selections and the functions whose share changed most.
import { useMemo } from 'react';
import type { GrafanaTheme2 } from '@grafana/data';
import { renderDiff, type DiffRender } from './api';
import { SideEditor } from './SideEditor';
import { useLoad, useUrlState } from './hooks';
import { Status } from './Status';
import { biggestChanges, toDiffRows } from './flamebearer';
import { toDiffDataFrame, unitOf } from './frame';
import { formatPair, parsePair, type PairState } from './url';
import { Graph } from './Graph';

interface Props {
  org: string;
  theme: GrafanaTheme2;
}

const percent = (v: number, total: number) => `${((100 * v) / (total || 1)).toFixed(2)} %`;

export function DiffView({ org, theme }: Props) {
  const [view, setView] = useUrlState<PairState>(parsePair, formatPair);
  const ready = view.left.query !== '' && view.right.query !== '';
  const answer = useLoad<DiffRender>(
    ready ? () => renderDiff(view.left, view.right, view.maxNodes) : null,
    [ready, view.left, view.right, view.maxNodes, org],
  );

  const shown = useMemo(() => {
    if (answer.state !== 'done') return undefined;
    const { flamebearer, metadata } = answer.value;
    const rows = toDiffRows(flamebearer);
    return {
      frame: toDiffDataFrame(rows, unitOf(metadata.name, metadata.units)),
      changes: biggestChanges(rows, 20),
      left: rows[0]?.left ?? 0,
      right: rows[0]?.right ?? 0,
    };
  }, [answer]);

  return (
    <>
      <header className="pair">
        <SideEditor name="Baseline" side={view.left} onChange={(left) => setView({ ...view, left })} />
        <SideEditor name="Comparison" side={view.right} onChange={(right) => setView({ ...view, right })} />
      </header>
      {!ready ? <div className="empty">Enter a baseline and a comparison query.</div> : null}
      <Status load={answer} />
      {shown ? (
        <>
          <table className="changes" aria-label="Biggest changes">
            <caption>Biggest changes in self time, as a share of each side's total</caption>
            <thead>
              <tr>
                <th>Function</th>
                <th>Baseline</th>
                <th>Comparison</th>
                <th>Change</th>
              </tr>
            </thead>
            <tbody>
              {shown.changes.map((c) => {
                const delta = (100 * c.right) / (shown.right || 1) - (100 * c.left) / (shown.left || 1);
                return (
                  <tr key={c.label} className={delta > 0 ? 'grew' : 'shrank'}>
                    <td>{c.label}</td>
                    <td>{percent(c.left, shown.left)}</td>
                    <td>{percent(c.right, shown.right)}</td>
                    <td>{`${delta > 0 ? '+' : ''}${delta.toFixed(2)} pp`}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <main className="flamegraph">
            <Graph data={shown.frame} theme={theme} />
          </main>
        </>
      ) : null}
    </>
  );
}
