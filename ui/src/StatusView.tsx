// The status page (`/status`): what the bucket holds per tenant and day — objects and bytes by
// level, the uploads compaction has not merged yet and how long the oldest has waited, the
// last compaction, quarantined uploads, and the days retention deleted; then the pull-mode
// scrape targets.
import { useState } from 'react';
import { formattedValueToString, getValueFormat } from '@grafana/data';
import { storageStatus, type Census, type TenantCensus, type Usage } from './api';
import { useLoad } from './hooks';
import { ScrapeTargets } from './ScrapeTargets';
import { Status } from './Status';

/** The census's levels, in lifecycle order, with their column titles. */
const LEVELS: Array<[string, string]> = [
  ['l0', 'Uploads (L0)'],
  ['hour', 'Hour segments'],
  ['day', 'Day segments'],
  ['replaced', 'Replaced'],
  ['manifest', 'Manifests'],
  ['quarantine', 'Quarantine'],
];

const bytes = (n: number) => formattedValueToString(getValueFormat('decbytes')(n));

function usage(u: Usage | undefined): string {
  return u && u.objects > 0 ? `${u.objects} · ${bytes(u.bytes)}` : '–';
}

/** A time in nanoseconds since the epoch, in UTC to the second. */
function time(ns: number | undefined): string {
  return ns === undefined ? 'never' : `${new Date(ns / 1e6).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function total(t: TenantCensus): Usage {
  return Object.values(t.levels).reduce((a, u) => ({ objects: a.objects + u.objects, bytes: a.bytes + u.bytes }), {
    objects: 0,
    bytes: 0,
  });
}

function Tenant({ t, takenAt }: { t: TenantCensus; takenAt: number }) {
  const all = total(t);
  const lag = t.oldest_uncompacted === undefined ? 'none waiting' : formattedValueToString(getValueFormat('ns')(Math.max(0, takenAt - t.oldest_uncompacted)));
  const quarantined = t.days.flatMap((d) => d.quarantined ?? []);
  const summary: Array<[string, string]> = [
    ['Days', String(t.days.length)],
    ['Objects', usage(all)],
    ['Not merged yet', usage(t.uncompacted)],
    ['Compaction lag', lag],
    ['Last compaction', time(t.last_compaction)],
    ['Quarantined', String(quarantined.length)],
    ['Days deleted by retention', String(t.retention_deleted_days)],
  ];
  return (
    <section className="tenant-status" aria-label={`Tenant ${t.tenant}`}>
      <h2>{t.tenant}</h2>
      <dl className="summary">
        {summary.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      {t.days.length === 0 ? <p className="note">No days of profiles in the bucket.</p> : null}
      <table className="explore" aria-label={`Days of ${t.tenant}`} hidden={t.days.length === 0}>
        <thead>
          <tr>
            <th>Day</th>
            {LEVELS.map(([, title]) => (
              <th key={title}>{title}</th>
            ))}
            <th>Not merged</th>
            <th>Last compaction</th>
          </tr>
        </thead>
        <tbody>
          {[...t.days].reverse().map((d) => (
            <tr key={d.day} title={d.error ? `manifest unreadable: ${d.error}` : undefined}>
              <td>{d.day}</td>
              {LEVELS.map(([level]) => (
                <td key={level}>{usage(d.levels[level])}</td>
              ))}
              <td>{usage(d.uncompacted)}</td>
              <td>{d.error ? 'unreadable manifest' : time(d.last_compaction)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {(t.levels.other?.objects ?? 0) > 0 ? <p className="note">Leases, cached counters, scrape state and settings: {usage(t.levels.other)}</p> : null}
      {quarantined.length > 0 ? (
        <table className="explore quarantine" aria-label={`Quarantined uploads of ${t.tenant}`}>
          <caption>Quarantined uploads (kept for you to look at; queries and compaction skip them)</caption>
          <thead>
            <tr>
              <th>Object</th>
              <th>Why</th>
              <th>Set aside</th>
            </tr>
          </thead>
          <tbody>
            {quarantined.map((q) => (
              <tr key={q.key}>
                <td>
                  <code>{q.key}</code>
                </td>
                <td>{q.reason}</td>
                <td>{time(q.at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

export function StatusView({ org }: { org: string }) {
  const [asked, setAsked] = useState(0);
  const census = useLoad<Census>(() => storageStatus(), [org, asked]);
  return (
    <>
      <header>
        <p className="scope">{org ? `Organisation ${org}` : 'Every tenant'}</p>
        <button type="button" onClick={() => setAsked(asked + 1)}>
          Refresh
        </button>
        {census.state === 'done' ? <p className="taken">Taken {time(census.value.taken_at)}</p> : null}
      </header>
      <Status load={census} />
      {census.state === 'done' && census.value.tenants.length === 0 ? <div className="empty">No tenant has data yet.</div> : null}
      {census.state === 'done' ? census.value.tenants.map((t) => <Tenant key={t.tenant} t={t} takenAt={census.value.taken_at} />) : null}
      <ScrapeTargets org={org} asked={asked} />
    </>
  );
}
