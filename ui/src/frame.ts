// The flame graph's data frame for @grafana/flamegraph, from Flamelet's render answer.
import { createDataFrame, FieldType, type DataFrame } from '@grafana/data';
import { toDiffRows, toRows, type DiffRow, type Flamebearer } from './flamebearer';

/** Grafana's unit for a sample type, so the table and tooltips read as in Grafana. */
export function unitOf(sampleType: string, units: string): string {
  if (sampleType === 'cpu' || units === 'nanoseconds') return 'ns';
  if (units === 'bytes' || /space|bytes/.test(sampleType)) return 'bytes';
  return 'short';
}

export function toDataFrame(fb: Flamebearer, unit: string): DataFrame {
  const rows = toRows(fb);
  return createDataFrame({
    name: 'response',
    meta: { preferredVisualisationType: 'flamegraph' },
    fields: [
      { name: 'level', type: FieldType.number, values: rows.map((r) => r.level) },
      { name: 'value', type: FieldType.number, values: rows.map((r) => r.value), config: { unit } },
      { name: 'self', type: FieldType.number, values: rows.map((r) => r.self), config: { unit } },
      { name: 'label', type: FieldType.string, values: rows.map((r) => r.label) },
    ],
  });
}

/** A diff's data frame: `value`/`self` the left side, `valueRight`/`selfRight` the right, as
 * @grafana/flamegraph's diff mode reads them (it adds the two for a node's width). */
export function toDiffDataFrame(rows: DiffRow[], unit: string): DataFrame {
  return createDataFrame({
    name: 'response',
    meta: { preferredVisualisationType: 'flamegraph' },
    fields: [
      { name: 'level', type: FieldType.number, values: rows.map((r) => r.level) },
      { name: 'value', type: FieldType.number, values: rows.map((r) => r.left), config: { unit } },
      { name: 'self', type: FieldType.number, values: rows.map((r) => r.leftSelf), config: { unit } },
      { name: 'label', type: FieldType.string, values: rows.map((r) => r.label) },
      { name: 'valueRight', type: FieldType.number, values: rows.map((r) => r.right), config: { unit } },
      { name: 'selfRight', type: FieldType.number, values: rows.map((r) => r.rightSelf), config: { unit } },
    ],
  });
}

export { toDiffRows };
