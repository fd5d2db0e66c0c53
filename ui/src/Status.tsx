// What a view shows while it loads or when the API said no: never a blank page.
import { useState } from 'react';
import { setToken, token } from './api';
import type { Load } from './hooks';

/** Asks for an access token when the server wants one (a 401), or another when the one given
 * was refused; the views load again with it. */
function SignIn() {
  const [value, setValue] = useState('');
  return (
    <form
      className="sign-in"
      onSubmit={(e) => {
        e.preventDefault();
        setToken(value.trim());
        window.location.reload();
      }}
    >
      <label>
        {token() ? 'Another access token' : 'This server needs an access token'}
        <input
          type="password"
          aria-label="Access token"
          placeholder="NAME.SECRET"
          autoComplete="off"
          value={value}
          onChange={(e) => setValue(e.target.value)}
        />
      </label>
      <button type="submit" disabled={!value.trim()}>
        Sign in
      </button>
    </form>
  );
}

export function Status({ load, error }: { load: Load<unknown>; error?: string }) {
  const message = error ?? (load.state === 'error' ? load.message : undefined);
  return (
    <>
      {message ? (
        <div className="error" role="alert">
          {message}
        </div>
      ) : null}
      {message?.startsWith('401:') ? <SignIn /> : null}
      {load.state === 'loading' ? (
        <div className="loading" role="progressbar" aria-label="Loading">
          Loading…
        </div>
      ) : null}
    </>
  );
}
