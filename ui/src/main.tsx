// The entry: small, so that the single view's flame graph is asked for at once, while the
// views' code (React, Grafana's flame graph) loads and starts; then the page itself.
import { prefetchRender } from './api';
import { parseSingle } from './url';
import './style.css';

if ((window.location.pathname.replace(/\/+$/, '') || '/') === '/') {
  const view = parseSingle(window.location.search);
  if (view.query) prefetchRender(view.query, view.from, view.until, view.maxNodes);
}
void import('./boot');
