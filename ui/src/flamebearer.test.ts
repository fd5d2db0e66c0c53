import { describe, expect, it } from 'vitest';
import { toRows } from './flamebearer';

describe('toRows', () => {
  it('turns the spec example into depth-first rows', () => {
    // Stacks a;b;e=1, a;c=2, a;c;d=1 (docs: the render answer's worked example).
    const rows = toRows({
      names: ['total', 'a', 'c', 'd', 'b', 'e'],
      levels: [[0, 4, 0, 0], [0, 4, 0, 1], [0, 1, 0, 4, 0, 3, 2, 2], [0, 1, 1, 5, 2, 1, 1, 3]],
      numTicks: 4,
      maxSelf: 2,
    });
    expect(rows.map((r) => [r.level, r.label, r.value, r.self])).toEqual([
      [0, 'total', 4, 0],
      [1, 'a', 4, 0],
      [2, 'b', 1, 0],
      [3, 'e', 1, 1],
      [2, 'c', 3, 2],
      [3, 'd', 1, 1],
    ]);
  });

  it('keeps a child out of a sibling that ends before it', () => {
    // total → x (2, self 2) and y (3) → y;z (3).
    const rows = toRows({
      names: ['total', 'x', 'y', 'z'],
      levels: [[0, 5, 0, 0], [0, 2, 2, 1, 0, 3, 0, 2], [2, 3, 3, 3]],
      numTicks: 5,
      maxSelf: 3,
    });
    expect(rows.map((r) => `${r.level}:${r.label}`)).toEqual(['0:total', '1:x', '1:y', '2:z']);
  });

  it('answers nothing for an empty graph', () => {
    expect(toRows({ names: [], levels: [], numTicks: 0, maxSelf: 0 })).toEqual([]);
  });
});
