// One side of a comparison or diff: its query and range, each applied with Enter.
import type { Side } from './api';
import { describeTime } from './hooks';

/** One side's query and range, applied with Enter. */
export function SideEditor({ name, side, onChange }: { name: string; side: Side; onChange: (s: Side) => void }) {
  const field = (key: keyof Side, label: string) => (
    <label className={key === 'query' ? 'wide' : undefined}>
      {`${name} ${label}`}
      <input
        aria-label={`${name} ${label}`}
        key={side[key]}
        defaultValue={side[key]}
        title={key === 'query' ? undefined : describeTime(side[key])}
        onKeyDown={(e) => {
          if (e.key === 'Enter') onChange({ ...side, [key]: e.currentTarget.value.trim() });
        }}
      />
    </label>
  );
  return (
    <fieldset className="side">
      {field('query', 'query')}
      {field('from', 'from')}
      {field('until', 'until')}
    </fieldset>
  );
}

