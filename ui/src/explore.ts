// The tag explorer's numbers: per value of the group-by label, its total over the range,
// its share of all values' total, and the mean and standard deviation of its value per step.
import type { Render } from './api';

export type TimelineData = NonNullable<Render['timeline']>;

/** One label value's row of the table. */
export interface GroupStats {
  value: string;
  total: number;
  /** Of the sum of all values' totals, 0..1. */
  share: number;
  /** Mean and (population) standard deviation of the per-step values, over every step of
   * the range (steps without data count as zero, as the timeline shows them). */
  mean: number;
  stddev: number;
}

/** The rows for `groups` (value → timeline), largest total first, then by value. */
export function groupStats(groups: Record<string, TimelineData>): GroupStats[] {
  const rows = Object.entries(groups).map(([value, t]) => {
    const n = t.samples.length;
    const total = t.samples.reduce((a, b) => a + b, 0);
    const mean = n > 0 ? total / n : 0;
    const variance = n > 0 ? t.samples.reduce((a, v) => a + (v - mean) * (v - mean), 0) / n : 0;
    return { value, total, share: 0, mean, stddev: Math.sqrt(variance) };
  });
  const all = rows.reduce((a, r) => a + r.total, 0);
  for (const r of rows) r.share = all > 0 ? r.total / all : 0;
  return rows.sort((a, b) => b.total - a.total || a.value.localeCompare(b.value));
}
