import { describe, expect, it } from 'vitest';
import { biggestChanges, toDiffRows, toRows } from './flamebearer';

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

describe('toDiffRows', () => {
  it('decodes both sides, each x column on its own', () => {
    // Left: main;a 2, main;b 1. Right: main;a 1, main;c 3 (b gone, c new).
    const rows = toDiffRows({
      names: ['total', 'main', 'a', 'b', 'c'],
      levels: [
        [0, 3, 0, 0, 4, 0, 0],
        [0, 3, 0, 0, 4, 0, 1],
        [0, 2, 2, 0, 1, 1, 2, 0, 1, 1, 0, 0, 0, 3, 0, 0, 0, 0, 3, 3, 4],
      ],
      numTicks: 7,
      maxSelf: 3,
      leftTicks: 3,
      rightTicks: 4,
    });
    expect(rows.map((r) => [r.level, r.label, r.left, r.leftSelf, r.right, r.rightSelf])).toEqual([
      [0, 'total', 3, 0, 4, 0],
      [1, 'main', 3, 0, 4, 0],
      [2, 'a', 2, 2, 1, 1],
      [2, 'b', 1, 1, 0, 0],
      [2, 'c', 0, 0, 3, 3],
    ]);
    // c grew from nothing to 3/4 of the right side; a fell from 2/3 to 1/4; b from 1/3.
    expect(biggestChanges(rows, 10).map((c) => c.label)).toEqual(['c', 'a', 'b']);
  });
});
