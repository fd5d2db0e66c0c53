// Export of what the single view shows: the merged profile as pprof, the flamebearer JSON,
// folded stacks and the drawn graph as PNG.
import { useState } from 'react';
import { mergedProfile, type Render } from './api';
import { toFolded, toRows } from './flamebearer';
import { toMillis } from './time';
import { serviceOf, splitQuery } from './url';

/** Saves `blob` as `name` through the browser's download. */
function save(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  // The download has its own reference by now.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

interface Props {
  answer: Render;
  query: string;
  from: string;
  until: string;
  /** The drawn flame graph's canvas. */
  canvas: () => HTMLCanvasElement | null;
}

export function Export({ answer, query, from, until, canvas }: Props) {
  const [error, setError] = useState<string | null>(null);
  const { profileType, selector } = splitQuery(query);
  const base = `${serviceOf(selector) ?? 'flamegraph'}-${profileType.split(':')[0] || 'profile'}`;

  const run = async (format: string) => {
    setError(null);
    if (format === 'pprof') {
      const now = Date.now();
      const start = toMillis(from, now);
      const end = toMillis(until, now);
      if (start === undefined || end === undefined) throw new Error(`cannot read the range ${from} to ${until}`);
      save(await mergedProfile(query, start, end), `${base}.pb`);
    } else if (format === 'json') {
      save(new Blob([JSON.stringify(answer)], { type: 'application/json' }), `${base}.json`);
    } else if (format === 'folded') {
      save(new Blob([toFolded(toRows(answer.flamebearer))], { type: 'text/plain' }), `${base}.folded.txt`);
    } else if (format === 'png') {
      const c = canvas();
      if (!c) throw new Error('no flame graph is drawn');
      const png = await new Promise<Blob | null>((done) => c.toBlob(done, 'image/png'));
      if (!png) throw new Error('the browser could not encode the flame graph as PNG');
      save(png, `${base}.png`);
    }
  };

  return (
    <span className="export">
      <select
        aria-label="Export"
        value=""
        onChange={(e) => {
          run(e.target.value).catch((err: Error) => setError(`Export failed: ${err.message}`));
        }}
      >
        <option value="">Export…</option>
        <option value="pprof">pprof (go tool pprof)</option>
        <option value="json">Flamebearer JSON</option>
        <option value="folded">Folded stacks</option>
        <option value="png">PNG image</option>
      </select>
      {error ? (
        <span role="alert" className="error">
          {error}
        </span>
      ) : null}
    </span>
  );
}
