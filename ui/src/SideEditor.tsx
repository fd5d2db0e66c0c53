// One side of a comparison or diff: its query and range, each applied with Enter.
import type { Side } from './api';
import { QueryEditor } from './QueryEditor';
import { describeTime } from './time';

/** One side's query and range, applied with Enter. */
export function SideEditor({ name, side, onChange }: { name: string; side: Side; onChange: (s: Side) => void }) {
  const field = (key: 'from' | 'until', label: string) => (
    <label>
      {`${name} ${label}`}
      <input
        aria-label={`${name} ${label}`}
        key={side[key]}
        defaultValue={side[key]}
        title={describeTime(side[key])}
        onKeyDown={(e) => {
          if (e.key === 'Enter') onChange({ ...side, [key]: e.currentTarget.value.trim() });
        }}
      />
    </label>
  );
  return (
    <fieldset className="side">
      <QueryEditor
        label={`${name} query`}
        value={side.query}
        from={side.from}
        until={side.until}
        onSubmit={(query) => onChange({ ...side, query })}
      />
      {field('from', 'from')}
      {field('until', 'until')}
    </fieldset>
  );
}

