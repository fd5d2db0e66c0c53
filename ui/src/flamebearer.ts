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

/** One node in depth-first order: what the flame graph's data frame holds. */
export interface FlameRow {
  level: number;
  value: number;
  self: number;
  label: string;
}

interface Node {
  x: number;
  total: number;
  self: number;
  name: number;
}

/** Decodes one level's groups of four, undoing the delta encoding of x. */
function decodeLevel(values: number[]): Node[] {
  const out: Node[] = [];
  let end = 0;
  for (let i = 0; i + 3 < values.length; i += 4) {
    const x = end + values[i];
    out.push({ x, total: values[i + 1], self: values[i + 2], name: values[i + 3] });
    end = x + values[i + 1];
  }
  return out;
}

/**
 * The nodes in depth-first order, each parent before its children and the children in x
 * order (a node's children are the nodes one level down within its [x, x + total)).
 */
export function toRows(fb: Flamebearer): FlameRow[] {
  const levels = fb.levels.map(decodeLevel);
  const next = levels.map(() => 0);
  const rows: FlameRow[] = [];
  // An explicit stack: stacks can be deeper than the JS call stack likes.
  const stack: Array<{ level: number; node: Node }> = [];
  for (const root of [...(levels[0] ?? [])].reverse()) {
    stack.push({ level: 0, node: root });
  }
  const pending: Array<{ level: number; node: Node }> = [];
  while (stack.length > 0) {
    const { level, node } = stack.pop()!;
    rows.push({ level, value: node.total, self: node.self, label: fb.names[node.name] ?? '' });
    const below = levels[level + 1];
    if (!below) continue;
    pending.length = 0;
    while (next[level + 1] < below.length && below[next[level + 1]].x < node.x + node.total) {
      pending.push({ level: level + 1, node: below[next[level + 1]] });
      next[level + 1] += 1;
    }
    for (let i = pending.length - 1; i >= 0; i--) stack.push(pending[i]);
  }
  return rows;
}
