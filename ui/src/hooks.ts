// What the views share: their state in the URL, loading states, and how times read.
import { useEffect, useState } from 'react';

export type Load<T> = { state: 'idle' } | { state: 'loading' } | { state: 'done'; value: T } | { state: 'error'; message: string };

/** A view's state in the URL, following back and forward. */
export function useUrlState<S>(
  parse: (search: string) => S,
  format: (s: S) => string,
): [S, (s: S, replace?: boolean) => void] {
  const [state, setState] = useState(() => parse(window.location.search));
  useEffect(() => {
    const onPop = () => setState(parse(window.location.search));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, [parse]);
  const update = (s: S, replace = false) => {
    const url = `${window.location.pathname}${format(s)}`;
    if (replace) window.history.replaceState(null, '', url);
    else window.history.pushState(null, '', url);
    setState(s);
  };
  return [state, update];
}


/** The state of `load()`, run again when `deps` change; `null` for nothing to load. An answer
 * that arrives after the deps changed is dropped. */
export function useLoad<T>(load: (() => Promise<T>) | null, deps: unknown[]): Load<T> {
  const [state, setState] = useState<Load<T>>({ state: 'idle' });
  useEffect(() => {
    if (!load) {
      setState({ state: 'idle' });
      return;
    }
    let live = true;
    setState({ state: 'loading' });
    load()
      .then((value) => live && setState({ state: 'done', value }))
      .catch((e: Error) => live && setState({ state: 'error', message: e.message }));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return state;
}
