// Flamelet's flame-graph answers (Pyroscope's flamebearer, from /pyroscope/render) as the
// depth-first rows that @grafana/flamegraph draws.

/** The `flamebearer` object of a render answer. */
export interface Flamebearer {
  names: string[];
  /** Per depth, nodes as `[x, total, self, nameIndex]`, x delta-encoded per level. */
  levels: number[][];
  numTicks: number;
  maxSelf: number;
}

/** A diff answer's `flamebearer` (format `double`): groups of seven,
 * `[xLeft, totalLeft, selfLeft, xRight, totalRight, selfRight, nameIndex]`, each x column
 * delta-encoded on its own. */
export interface DiffFlamebearer {
  names: string[];
  levels: number[][];
  numTicks: number;
  maxSelf: number;
  leftTicks: number;
  rightTicks: number;
}

/** One node of a diff in depth-first order, each side's total and self. */
export interface DiffRow {
  level: number;
  label: string;
  left: number;
  leftSelf: number;
  right: number;
  rightSelf: number;
}

/** One node in depth-first order: what the flame graph's data frame holds. */
export interface FlameRow {
  level: number;
  value: number;
  self: number;
  label: string;
}

/** A node's extent on each side (one side for a single graph, two for a diff). */
interface Node {
  x: number[];
  total: number[];
  self: number[];
  name: number;
}

/** Decodes one level's groups of `sides * 3 + 1`, undoing each x column's delta encoding. */
function decodeLevel(values: number[], sides: number): Node[] {
  const out: Node[] = [];
  const stride = sides * 3 + 1;
  const end = new Array<number>(sides).fill(0);
  for (let i = 0; i + stride - 1 < values.length; i += stride) {
    const node: Node = { x: [], total: [], self: [], name: values[i + stride - 1] };
    for (let s = 0; s < sides; s++) {
      const x = end[s] + values[i + s * 3];
      node.x.push(x);
      node.total.push(values[i + s * 3 + 1]);
      node.self.push(values[i + s * 3 + 2]);
      end[s] = x + values[i + s * 3 + 1];
    }
    out.push(node);
  }
  return out;
}

/** Whether `child` (one level below) lies within `parent` on every side; a side where the
 * child is empty may start at the parent's end. */
function within(child: Node, parent: Node): boolean {
  return child.x.every((x, s) => {
    const end = parent.x[s] + parent.total[s];
    return child.total[s] > 0 ? x < end : x <= end;
  });
}

/** The nodes in depth-first order, each parent before its children and the children in x
 * order (a node's children are the nodes one level down within its extent). */
function walk(levels: Node[][], visit: (level: number, node: Node) => void): void {
  const next = levels.map(() => 0);
  // An explicit stack: stacks can be deeper than the JS call stack likes.
  const stack: Array<{ level: number; node: Node }> = [];
  for (const root of [...(levels[0] ?? [])].reverse()) {
    stack.push({ level: 0, node: root });
  }
  const pending: Array<{ level: number; node: Node }> = [];
  while (stack.length > 0) {
    const { level, node } = stack.pop()!;
    visit(level, node);
    const below = levels[level + 1];
    if (!below) continue;
    pending.length = 0;
    while (next[level + 1] < below.length && within(below[next[level + 1]], node)) {
      pending.push({ level: level + 1, node: below[next[level + 1]] });
      next[level + 1] += 1;
    }
    for (let i = pending.length - 1; i >= 0; i--) stack.push(pending[i]);
  }
}

/** A single flame graph's nodes in depth-first order. */
export function toRows(fb: Flamebearer): FlameRow[] {
  const rows: FlameRow[] = [];
  walk(
    fb.levels.map((l) => decodeLevel(l, 1)),
    (level, n) => rows.push({ level, value: n.total[0], self: n.self[0], label: fb.names[n.name] ?? '' }),
  );
  return rows;
}

/** A diff's nodes in depth-first order, with both sides. */
export function toDiffRows(fb: DiffFlamebearer): DiffRow[] {
  const rows: DiffRow[] = [];
  walk(
    fb.levels.map((l) => decodeLevel(l, 2)),
    (level, n) =>
      rows.push({
        level,
        label: fb.names[n.name] ?? '',
        left: n.total[0],
        leftSelf: n.self[0],
        right: n.total[1],
        rightSelf: n.self[1],
      }),
  );
  return rows;
}

/** A function's self value on each side, summed over the stacks it is the leaf of. */
export interface Change {
  label: string;
  left: number;
  right: number;
}

/** The functions whose self value changed most between the sides, each side as a share of
 * its own total (so that ranges of different lengths compare), largest change first. */
export function biggestChanges(rows: DiffRow[], limit: number): Change[] {
  const by = new Map<string, Change>();
  for (const r of rows) {
    if (r.level === 0) continue;
    const c = by.get(r.label) ?? { label: r.label, left: 0, right: 0 };
    c.left += r.leftSelf;
    c.right += r.rightSelf;
    by.set(r.label, c);
  }
  const leftTotal = rows[0]?.left || 1;
  const rightTotal = rows[0]?.right || 1;
  const change = (c: Change) => c.right / rightTotal - c.left / leftTotal;
  return [...by.values()]
    .filter((c) => change(c) !== 0)
    .sort((a, b) => Math.abs(change(b)) - Math.abs(change(a)) || a.label.localeCompare(b.label))
    .slice(0, limit);
}

/** The flame graph as folded stacks (`a;b;c value` per line, root frame first), one line per
 * node with a self value, in depth-first order: the text `flamegraph.pl`, speedscope and
 * Flamelet's own ingest read. */
export function toFolded(rows: FlameRow[]): string {
  const path: string[] = [];
  let out = '';
  for (const r of rows) {
    path.length = r.level;
    path.push(r.label);
    // Level 0 is the synthetic root `total`; it has no frame of its own.
    if (r.level > 0 && r.self > 0) out += `${path.slice(1).join(';')} ${r.self}\n`;
  }
  return out;
}
