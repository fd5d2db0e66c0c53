// The flame graph's data frame for @grafana/flamegraph, from Flamelet's render answer.
import { createDataFrame, FieldType, type DataFrame } from '@grafana/data';
import { toRows, type DiffRow, type Flamebearer } from './flamebearer';

/** Grafana's unit for a sample type, so the table and tooltips read as in Grafana. */
export function unitOf(sampleType: string, units: string): string {
  if (sampleType === 'cpu' || units === 'nanoseconds') return 'ns';
  if (units === 'bytes' || /space|bytes/.test(sampleType)) return 'bytes';
  return 'short';
}

export function toDataFrame(fb: Flamebearer, unit: string): DataFrame {
  const rows = toRows(fb);
  return flameFrame(rows, (r) => [r.value, r.self], unit);
}

/** A diff's data frame: `value`/`self` the left side, `valueRight`/`selfRight` the right, as
 * @grafana/flamegraph's diff mode reads them (it adds the two for a node's width). */
export function toDiffDataFrame(rows: DiffRow[], unit: string): DataFrame {
  return flameFrame(rows, (r) => [r.left, r.leftSelf], unit, (r) => [r.right, r.rightSelf]);
}

/** The frame of depth-first rows: `level`, `value`, `self`, `label` (and `valueRight`,
 * `selfRight` with `right`), values in `unit`. */
function flameFrame<R extends { level: number; label: string }>(
  rows: R[],
  left: (r: R) => [number, number],
  unit: string,
  right?: (r: R) => [number, number],
): DataFrame {
  const number = (name: string, get: (r: R) => number) => ({
    name,
    type: FieldType.number,
    values: rows.map(get),
    config: { unit },
  });
  const fields = [
    { name: 'level', type: FieldType.number, values: rows.map((r) => r.level) },
    number('value', (r) => left(r)[0]),
    number('self', (r) => left(r)[1]),
    { name: 'label', type: FieldType.string, values: rows.map((r) => r.label) },
  ];
  if (right) fields.push(number('valueRight', (r) => right(r)[0]), number('selfRight', (r) => right(r)[1]));
  return createDataFrame({ name: 'response', meta: { preferredVisualisationType: 'flamegraph' }, fields });
}
