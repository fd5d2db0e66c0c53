import { describe, expect, it } from 'vitest';
import { groupStats } from './explore';

const timeline = (samples: number[]) => ({ startTime: 0, samples, durationDelta: 15 });

describe('groupStats', () => {
  it('sums, shares, and takes the mean and deviation over every step', () => {
    const rows = groupStats({ eu: timeline([2, 4, 0, 2]), us: timeline([0, 0, 12, 0]) });
    expect(rows.map((r) => r.value)).toEqual(['us', 'eu']);
    const [us, eu] = rows;
    expect([us.total, us.share, us.mean]).toEqual([12, 0.6, 3]);
    expect(us.stddev).toBeCloseTo(Math.sqrt(27), 12);
    expect([eu.total, eu.share, eu.mean]).toEqual([8, 0.4, 2]);
    expect(eu.stddev).toBeCloseTo(Math.sqrt(2), 12);
  });

  it('orders equal totals by value and has no share without data', () => {
    const rows = groupStats({ b: timeline([0]), a: timeline([0]) });
    expect(rows.map((r) => [r.value, r.share, r.stddev])).toEqual([
      ['a', 0, 0],
      ['b', 0, 0],
    ]);
  });
});
