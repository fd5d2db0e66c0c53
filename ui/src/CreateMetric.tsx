// The dialog behind the flame graph's "Create metric from this function": the rule it will
// create, editable name and group-by, and the API's answer or its reason for refusing.
import { useState } from 'react';
import { createRecordingRule, groupByOf, ruleMatcher, suggestedMetricName, type RecordingRule } from './recording';
import { serviceOf, splitQuery } from './url';

interface Props {
  /** The function the clicked node stands for. */
  fn: string;
  /** The view's query: profile type and selector. */
  query: string;
  onClose: () => void;
}

export function CreateMetric({ fn, query, onClose }: Props) {
  const { profileType, selector } = splitQuery(query);
  const matcher = ruleMatcher(profileType, selector);
  const [name, setName] = useState(() => suggestedMetricName(serviceOf(selector), fn));
  const [groupBy, setGroupBy] = useState('');
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<RecordingRule | null>(null);
  const [error, setError] = useState<string | null>(null);

  const submit = async () => {
    setBusy(true);
    setError(null);
    try {
      setCreated(await createRecordingRule(name.trim(), matcher, groupByOf(groupBy), fn));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="dialog" role="dialog" aria-label="Create metric">
      <h2>Create metric from function</h2>
      <p>
        A recording rule counting the value of every stack through <code>{fn}</code> in <code>{matcher}</code>,
        served at <a href="/exported-metrics">/exported-metrics</a> for Prometheus to scrape.
      </p>
      {created ? (
        <>
          <p role="status">
            Created recording rule <code>{created.id}</code>: <code>{created.metricName}</code>.
          </p>
          <button type="button" onClick={onClose}>
            Close
          </button>
        </>
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
        >
          <label>
            Metric name
            <input aria-label="Metric name" value={name} onChange={(e) => setName(e.target.value)} />
          </label>
          <label>
            Group by
            <input
              aria-label="Group by"
              placeholder="label names, comma-separated"
              value={groupBy}
              onChange={(e) => setGroupBy(e.target.value)}
            />
          </label>
          {error ? (
            <div className="error" role="alert">
              {error}
            </div>
          ) : null}
          <button type="submit" disabled={busy}>
            Create
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </form>
      )}
    </div>
  );
}
