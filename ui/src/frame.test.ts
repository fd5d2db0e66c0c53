import { describe, expect, it } from 'vitest';
import { toDiffDataFrame, toDataFrame, unitOf } from './frame';

describe('data frames for @grafana/flamegraph', () => {
  it('gives a single graph its four fields and the unit', () => {
    const frame = toDataFrame(
      { names: ['total', 'a'], levels: [[0, 3, 0, 0], [0, 3, 3, 1]], numTicks: 3, maxSelf: 3 },
      unitOf('cpu', 'samples'),
    );
    const field = (name: string) => frame.fields.find((f) => f.name === name)!;
    expect(frame.fields.map((f) => f.name)).toEqual(['level', 'value', 'self', 'label']);
    expect([...field('value').values]).toEqual([3, 3]);
    expect(field('value').config.unit).toBe('ns');
  });

  it('puts the left side in value and self, the right in valueRight and selfRight', () => {
    // The widget adds value and valueRight for a node's width; value must not hold both.
    const frame = toDiffDataFrame(
      [
        { level: 0, label: 'total', left: 2, leftSelf: 0, right: 5, rightSelf: 0 },
        { level: 1, label: 'gc', left: 0, leftSelf: 0, right: 1, rightSelf: 1 },
      ],
      'ns',
    );
    const values = (name: string) => [...frame.fields.find((f) => f.name === name)!.values];
    expect(values('value')).toEqual([2, 0]);
    expect(values('self')).toEqual([0, 0]);
    expect(values('valueRight')).toEqual([5, 1]);
    expect(values('selfRight')).toEqual([0, 1]);
  });

  it('names units as Grafana does', () => {
    expect(unitOf('alloc_space', 'bytes')).toBe('bytes');
    expect(unitOf('goroutine', 'count')).toBe('short');
  });
});
