// The status page's pull-mode targets (`GET /targets`): each target's health at its last
// scrape, how long it took, the error that names what went wrong, and each profile's state.
import { formattedValueToString, getValueFormat } from '@grafana/data';
import { scrapeTargets, type TargetHealth } from './api';
import { useLoad } from './hooks';
import { Status } from './Status';

/** A time in nanoseconds since the epoch, in UTC to the second; 0 is never. */
function time(ns: number): string {
  return ns > 0 ? `${new Date(ns / 1e6).toISOString().slice(0, 19).replace('T', ' ')} UTC` : 'never';
}

const seconds = (s: number) => formattedValueToString(getValueFormat('s')(s));

/** The target's own labels: not `instance` and `job`, shown beside them, nor `service_name`
 * when it is the job's name. */
function labels(t: TargetHealth): string {
  return Object.entries(t.labels)
    .filter(([k, v]) => k !== 'instance' && k !== 'job' && !(k === 'service_name' && v === t.job))
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

function Row({ t }: { t: TargetHealth }) {
  return (
    <tr className={`health-${t.health}`}>
      <td>{t.job}</td>
      <td>
        <code>{t.instance}</code>
        {labels(t) ? <div className="labels">{labels(t)}</div> : null}
      </td>
      <td>{t.tenant}</td>
      <td>
        <span className={`health ${t.health}`}>{t.health}</span>
      </td>
      <td>{time(t.last_scrape_nanos)}</td>
      <td>{t.last_scrape_nanos > 0 ? seconds(t.last_scrape_duration_seconds) : '–'}</td>
      <td>
        {t.scrapes} / {t.failures}
      </td>
      <td className="profiles">
        {t.profiles.map((p) => (
          <span key={p.name} className={`health ${p.health}`} title={p.error || p.url}>
            {p.name}
          </span>
        ))}
      </td>
      <td className="error-text">{t.last_error}</td>
    </tr>
  );
}

/** The targets of the chosen organisation (`org`), or every target when none is chosen;
 * reloaded with the page's Refresh (`asked`). */
export function ScrapeTargets({ org, asked }: { org: string; asked: number }) {
  const load = useLoad<TargetHealth[]>(() => scrapeTargets(), [org, asked]);
  const shown = load.state === 'done' ? load.value.filter((t) => !org || t.tenant === org) : [];
  const down = shown.filter((t) => t.health === 'down').length;
  return (
    <section className="tenant-status scrape-targets" aria-label="Scrape targets" aria-busy={load.state === 'loading'}>
      <h2>Scrape targets</h2>
      <Status load={load} />
      {load.state === 'done' && shown.length === 0 ? (
        <p className="note">
          {load.value.length === 0
            ? 'No targets: pull mode scrapes the services that scrape_configs in the configuration file names.'
            : `None of the ${load.value.length} targets stores into ${org}.`}
        </p>
      ) : null}
      {shown.length > 0 ? (
        <table className="explore targets" aria-label="Health of the scrape targets">
          <caption>
            {shown.length} targets, {down} down. Hover over a profile for its URL or error.
          </caption>
          <thead>
            <tr>
              <th>Job</th>
              <th>Instance</th>
              <th>Tenant</th>
              <th>Health</th>
              <th>Last scrape</th>
              <th>Took</th>
              <th>Scrapes / failures</th>
              <th>Profiles</th>
              <th>Last error</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((t) => (
              <Row key={`${t.job}\u0000${t.instance}`} t={t} />
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
