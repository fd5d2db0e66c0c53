// What a view shows while it loads or when the API said no: never a blank page.
import type { Load } from './hooks';

export function Status({ load, error }: { load: Load<unknown>; error?: string }) {
  const message = error ?? (load.state === 'error' ? load.message : undefined);
  return (
    <>
      {message ? (
        <div className="error" role="alert">
          {message}
        </div>
      ) : null}
      {load.state === 'loading' ? (
        <div className="loading" role="progressbar" aria-label="Loading">
          Loading…
        </div>
      ) : null}
    </>
  );
}
