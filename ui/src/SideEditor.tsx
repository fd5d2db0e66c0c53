// One side of a comparison or diff: its query and range, each applied with Enter.
import type { Side } from './api';
import { QueryEditor } from './QueryEditor';
import { TimeField } from './RangePicker';

/** One side's query and range, applied with Enter. */
export function SideEditor({ name, side, onChange }: { name: string; side: Side; onChange: (s: Side) => void }) {
  return (
    <fieldset className="side">
      <QueryEditor
        label={`${name} query`}
        value={side.query}
        from={side.from}
        until={side.until}
        onSubmit={(query) => onChange({ ...side, query })}
      />
      <TimeField label={`${name} from`} value={side.from} onChange={(from) => onChange({ ...side, from })} />
      <TimeField label={`${name} until`} value={side.until} onChange={(until) => onChange({ ...side, until })} />
    </fieldset>
  );
}
