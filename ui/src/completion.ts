// Autocomplete for the label selector in a query (`type{name="value", …}`): what the text
// before the cursor asks for, and the text once a suggestion is taken.

/** What can be suggested at the cursor: a label name, or a value of `label`. `start` is where
 * the part being typed (`prefix`) begins. */
export type Completion =
  | { kind: 'name'; prefix: string; start: number }
  | { kind: 'value'; label: string; prefix: string; start: number };

/** The completion at `cursor` in `query`, or `null` outside the selector's braces. */
export function completionAt(query: string, cursor: number): Completion | null {
  const open = query.indexOf('{');
  if (open < 0 || cursor <= open) return null;
  const before = query.slice(open + 1, cursor);
  // Walk the matchers so far; a quote opens and closes a value (with `\"` escapes).
  let i = 0;
  let matcherStart = 0;
  while (i < before.length) {
    const c = before[i];
    if (c === '}') return null;
    if (c === '"') {
      const valueStart = i + 1;
      i = valueStart;
      while (i < before.length && before[i] !== '"') i += before[i] === '\\' ? 2 : 1;
      if (i >= before.length) {
        // Inside an open value: its label is the name before the operator.
        const label = /([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)\s*$/.exec(before.slice(matcherStart, valueStart - 1));
        if (!label) return null;
        return { kind: 'value', label: label[1], prefix: before.slice(valueStart), start: open + 1 + valueStart };
      }
      i += 1;
      continue;
    }
    if (c === ',') matcherStart = i + 1;
    i += 1;
  }
  const typed = before.slice(matcherStart);
  const name = /^\s*([A-Za-z0-9_.]*)$/.exec(typed);
  if (!name) return null;
  return { kind: 'name', prefix: name[1], start: cursor - name[1].length };
}

/** `query` with the completion's typed part replaced by `choice`: a name gets `="` after it,
 * a value replaces the value the cursor is in, with its closing quote; returns the text and the new cursor. */
export function applyCompletion(query: string, cursor: number, c: Completion, choice: string): [string, number] {
  const rest = query.slice(cursor);
  if (c.kind === 'name') {
    const inserted = `${choice}="`;
    return [query.slice(0, c.start) + inserted + rest, c.start + inserted.length];
  }
  const escaped = choice.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  // The chosen value replaces the whole value the cursor is in, up to its closing quote.
  let end = 0;
  while (end < rest.length && rest[end] !== '"') end += rest[end] === '\\' ? 2 : 1;
  const tail = end < rest.length ? rest.slice(end + 1) : rest;
  const inserted = `${escaped}"`;
  return [query.slice(0, c.start) + inserted + tail, c.start + inserted.length];
}

/** The suggestions that start with what is typed, at most `limit`. */
export function matching(options: string[], prefix: string, limit = 50): string[] {
  const p = prefix.toLowerCase();
  return options.filter((o) => o.toLowerCase().startsWith(p) && o !== prefix).slice(0, limit);
}
