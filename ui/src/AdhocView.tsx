// Ad hoc (`/adhoc`): drop a pprof, JFR, folded or speedscope file and see its flame graph. The
// query component parses and renders it as it would an upload; nothing is stored.
import { useMemo, useState } from 'react';
import type { GrafanaTheme2 } from '@grafana/data';
import { renderUpload, type AdhocProfile } from './api';
import { formatOf, preferredType } from './adhoc';
import { toDataFrame, unitOf } from './frame';
import type { Load } from './hooks';
import { Status } from './Status';
import { Graph } from './Graph';

const FORMATS = [
  ['', 'From the file name'],
  ['pprof', 'pprof'],
  ['jfr', 'JFR'],
  ['folded', 'Folded stacks'],
  ['speedscope', 'speedscope'],
  ['lines', 'One stack per line'],
];

export function AdhocView({ theme }: { theme: GrafanaTheme2 }) {
  const [format, setFormat] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [answer, setAnswer] = useState<Load<AdhocProfile[]>>({ state: 'idle' });
  const [type, setType] = useState<string | undefined>();
  const [over, setOver] = useState(false);

  const open = (f: File, chosen = format) => {
    setFile(f);
    setAnswer({ state: 'loading' });
    renderUpload(f, chosen || formatOf(f.name), 8192)
      .then((profiles) => {
        setAnswer({ state: 'done', value: profiles });
        setType(preferredType(profiles.map((p) => p.profileType)));
      })
      .catch((e: Error) => setAnswer({ state: 'error', message: `${f.name}: ${e.message}` }));
  };
  const shown = answer.state === 'done' ? answer.value.find((p) => p.profileType === type) : undefined;
  const frame = useMemo(
    () => (shown ? toDataFrame(shown.flamebearer, unitOf(shown.metadata.name, shown.metadata.units)) : undefined),
    [shown],
  );

  return (
    <>
      <header>
        <label
          className={`drop ${over ? 'over' : ''}`}
          onDragOver={(e) => {
            e.preventDefault();
            setOver(true);
          }}
          onDragLeave={() => setOver(false)}
          onDrop={(e) => {
            e.preventDefault();
            setOver(false);
            const f = e.dataTransfer.files[0];
            if (f) open(f);
          }}
        >
          {file ? `${file.name} (${file.size} bytes): drop or choose another file` : 'Drop a profile here, or choose a file'}
          <input
            type="file"
            aria-label="Profile file"
            onChange={(e) => {
              const f = e.target.files?.[0];
              if (f) open(f);
            }}
          />
        </label>
        <label>
          Format
          <select
            aria-label="Format"
            value={format}
            onChange={(e) => {
              setFormat(e.target.value);
              if (file) open(file, e.target.value);
            }}
          >
            {FORMATS.map(([v, label]) => (
              <option key={v} value={v}>
                {label}
              </option>
            ))}
          </select>
        </label>
        {answer.state === 'done' && answer.value.length > 1 ? (
          <label>
            Profile type
            <select aria-label="Profile type" value={type} onChange={(e) => setType(e.target.value)}>
              {answer.value.map((p) => (
                <option key={p.profileType} value={p.profileType}>
                  {p.profileType}
                </option>
              ))}
            </select>
          </label>
        ) : null}
      </header>
      <p className="note">The file is rendered by the server and not stored.</p>
      <Status load={answer} />
      {answer.state === 'done' && answer.value.length === 0 ? <div className="empty">The file holds no samples.</div> : null}
      {frame ? (
        <main className="flamegraph">
          <Graph data={frame} theme={theme} />
        </main>
      ) : null}
    </>
  );
}
