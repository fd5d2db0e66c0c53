// The query field: a profile type and label selector, with the label names and values that
// have data in the range suggested as one types (LabelNames / LabelValues).
import { useEffect, useRef, useState } from 'react';
import { labelNames, labelValuesOf } from './api';
import { applyCompletion, completionAt, matching, type Completion } from './completion';
import { toMillis } from './time';
import { serviceOf, splitQuery, withService } from './url';

interface Props {
  label: string;
  value: string;
  from: string;
  until: string;
  onSubmit: (query: string) => void;
}

export function QueryEditor({ label, value, from, until, onSubmit }: Props) {
  const input = useRef<HTMLInputElement>(null);
  const [text, setText] = useState(value);
  const [at, setAt] = useState<{ completion: Completion; cursor: number } | null>(null);
  const [options, setOptions] = useState<string[]>([]);
  const [active, setActive] = useState(0);
  useEffect(() => setText(value), [value]);

  // Fetch what can go at the cursor; a newer keystroke's answer wins.
  const kind = at ? `${at.completion.kind}:${at.completion.kind === 'value' ? at.completion.label : ''}` : '';
  const service = serviceOf(splitQuery(text).selector);
  useEffect(() => {
    if (!at) return setOptions([]);
    let live = true;
    const now = Date.now();
    const start = toMillis(from, now) ?? now - 3_600_000;
    const end = toMillis(until, now) ?? now;
    const c = at.completion;
    // Values of a label among the service's series (all series for the service name itself).
    const scope = service && !(c.kind === 'value' && c.label === 'service_name') ? [withService('{}', service)] : [];
    const load = c.kind === 'name' ? labelNames(scope, start, end) : labelValuesOf(c.label, scope, start, end);
    load.then((o) => live && setOptions(o)).catch(() => live && setOptions([]));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [kind, service, from, until]);

  const shown = at ? matching(options, at.completion.prefix) : [];
  const locate = (el: HTMLInputElement) => {
    const cursor = el.selectionStart ?? el.value.length;
    const completion = completionAt(el.value, cursor);
    setAt(completion ? { completion, cursor } : null);
    setActive(0);
  };
  const take = (choice: string) => {
    if (!at) return;
    const [next, cursor] = applyCompletion(text, at.cursor, at.completion, choice);
    setText(next);
    const el = input.current;
    if (el) {
      el.value = next;
      el.focus();
      el.setSelectionRange(cursor, cursor);
      locate(el);
    }
  };

  return (
    <label className="wide query">
      {label}
      <input
        ref={input}
        aria-label={label}
        aria-autocomplete="list"
        aria-expanded={shown.length > 0}
        value={text}
        spellCheck={false}
        onChange={(e) => {
          setText(e.target.value);
          locate(e.target);
        }}
        onClick={(e) => locate(e.currentTarget)}
        onBlur={() => setTimeout(() => setAt(null), 150)}
        onKeyDown={(e) => {
          if (shown.length > 0 && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
            e.preventDefault();
            setActive((a) => (a + (e.key === 'ArrowDown' ? 1 : shown.length - 1)) % shown.length);
          } else if (shown.length > 0 && (e.key === 'Tab' || e.key === 'Enter')) {
            e.preventDefault();
            take(shown[Math.min(active, shown.length - 1)]);
          } else if (e.key === 'Escape') {
            setAt(null);
          } else if (e.key === 'Enter') {
            onSubmit(text.trim());
            setAt(null);
          }
        }}
      />
      {shown.length > 0 ? (
        <ul role="listbox" aria-label={`${label} suggestions`} className="suggestions">
          {shown.map((o, i) => (
            <li
              key={o}
              role="option"
              aria-selected={i === active}
              onMouseDown={(e) => {
                // Before the input's blur closes the list.
                e.preventDefault();
                take(o);
              }}
            >
              {o}
            </li>
          ))}
        </ul>
      ) : null}
    </label>
  );
}
