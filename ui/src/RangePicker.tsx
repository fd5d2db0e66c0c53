// The range: quick choices (`now-1h` … `now-30d`), or absolute ends typed as dates and times
// (UTC), Unix times or `now-…`; a timeline selection sets absolute ends too.
import { useState } from 'react';
import { describeTime, fromTyped } from './time';

const QUICK_RANGES = [
  ['now-5m', 'Last 5 minutes'],
  ['now-15m', 'Last 15 minutes'],
  ['now-1h', 'Last hour'],
  ['now-6h', 'Last 6 hours'],
  ['now-24h', 'Last 24 hours'],
  ['now-7d', 'Last 7 days'],
  ['now-30d', 'Last 30 days'],
];

/** One range end, applied with Enter; what is not a time is marked and not applied. */
export function TimeField({ label, value, onChange }: { label: string; value: string; onChange: (v: string) => void }) {
  const [bad, setBad] = useState(false);
  return (
    <label>
      {label}
      <input
        className="time"
        aria-label={label}
        key={value}
        defaultValue={describeTime(value)}
        aria-invalid={bad}
        title={bad ? 'A date and time (UTC, 2023-11-14 22:13), a Unix time, or now-1h' : undefined}
        onKeyDown={(e) => {
          if (e.key !== 'Enter') return;
          const v = fromTyped(e.currentTarget.value);
          setBad(v === undefined);
          if (v !== undefined) onChange(v);
        }}
      />
    </label>
  );
}

export function RangePicker({ from, until, onChange }: { from: string; until: string; onChange: (from: string, until: string) => void }) {
  const quick = QUICK_RANGES.some(([v]) => v === from) && until === 'now';
  return (
    <>
      <label>
        Range
        <select aria-label="Range" value={quick ? from : 'custom'} onChange={(e) => onChange(e.target.value, 'now')}>
          {quick ? null : <option value="custom">Absolute</option>}
          {QUICK_RANGES.map(([v, label]) => (
            <option key={v} value={v}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <TimeField label="From" value={from} onChange={(v) => onChange(v, until)} />
      <TimeField label="Until" value={until} onChange={(v) => onChange(from, v)} />
    </>
  );
}
