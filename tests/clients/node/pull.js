// A service in pull mode: @pyroscope/nodejs's express middleware serves /debug/pprof/profile
// (?seconds=N) and /debug/pprof/heap for Flamelet to scrape. Prints its port, then keeps busy.
const Pyroscope = require('@pyroscope/nodejs');
const express = require('express');
Pyroscope.init({ appName: 'nodepull' });
const app = express();
// The middleware is on the module's default export only.
app.use((Pyroscope.expressMiddleware || Pyroscope.default.expressMiddleware)());
const server = app.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
function work(n) { let s = 0; for (let i = 0; i < n; i++) { s += i * i; } return s; }
function pulledSlowly() { return work(3000000); }
function pulledQuickly() { return work(500000); }
const keep = [];
function loop() {
  pulledSlowly(); pulledQuickly();
  // Some allocations for the heap profile, let go of now and then.
  keep.push(new Array(1000).fill(keep.length));
  if (keep.length > 2000) keep.length = 0;
  setTimeout(loop, 1);
}
loop();
