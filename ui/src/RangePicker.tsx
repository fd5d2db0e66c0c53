// The range as quick choices (`now-1h` … `now-30d`), or the absolute range a timeline
// selection made.
import { describeTime } from './time';

const QUICK_RANGES = [
  ['now-5m', 'Last 5 minutes'],
  ['now-15m', 'Last 15 minutes'],
  ['now-1h', 'Last hour'],
  ['now-6h', 'Last 6 hours'],
  ['now-24h', 'Last 24 hours'],
  ['now-7d', 'Last 7 days'],
  ['now-30d', 'Last 30 days'],
];

export function RangePicker({ from, until, onChange }: { from: string; until: string; onChange: (from: string, until: string) => void }) {
  const quick = QUICK_RANGES.some(([v]) => v === from) && until === 'now';
  return (
    <label>
      Range
      <select aria-label="Range" value={quick ? from : 'custom'} onChange={(e) => onChange(e.target.value, 'now')}>
        {quick ? null : <option value="custom">{`${describeTime(from)} to ${describeTime(until)}`}</option>}
        {QUICK_RANGES.map(([v, label]) => (
          <option key={v} value={v}>
            {label}
          </option>
        ))}
      </select>
    </label>
  );
}
