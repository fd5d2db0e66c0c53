// Profiles itself with @pyroscope/nodejs (multipart pprof on /ingest) for argv[3] seconds.
const Pyroscope = require('@pyroscope/nodejs');
// A bearer token when the test gives one (the client's own `authToken` option).
Pyroscope.init({ serverAddress: process.argv[2], appName: 'nodeclient', tags: { env: 'ci' }, flushIntervalMs: 1000,
  authToken: process.env.FLAMELET_TOKEN || undefined });
Pyroscope.start();
function work(n) { let s = 0; for (let i = 0; i < n; i++) { s += i * i; } return s; }
function slow() { return work(3000000); }
function fast() { return work(500000); }
const end = Date.now() + Number(process.argv[3]) * 1000;
function loop() {
  if (Date.now() >= end) { Pyroscope.stop().then(() => process.exit(0)); return; }
  slow(); fast(); setImmediate(loop);
}
loop();
