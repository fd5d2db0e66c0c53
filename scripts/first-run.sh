#!/usr/bin/env bash
# Runs the README's first command as written, from the repository root (where rustup finds
# rust-toolchain.toml): `cargo run --release -p flamelet -- serve`. Waits until `GET /ready`
# answers 200 on 127.0.0.1:4040, then stops the server. Fails with the server's log if it
# exits or does not get ready. A `./data` it created is removed again.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
log="$(mktemp)"
had_data=false
[ -e data ] && had_data=true
# Its own process group, so that stopping it stops cargo and the server cargo started.
setsid cargo run --release -p flamelet -- serve >"$log" 2>&1 &
pid=$!
stop() {
    kill -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$log"
    if [ "$had_data" = false ]; then rm -rf data; fi
}
trap stop EXIT
ready() {
    python3 -c 'import sys, urllib.request
sys.exit(urllib.request.urlopen("http://127.0.0.1:4040/ready", timeout=2).status != 200)' \
        2>/dev/null
}
# A first build takes about 20 minutes on two cores; then the start itself is quick.
for _ in $(seq 1 3600); do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "first run: the server exited before it was ready" >&2
        cat "$log" >&2
        exit 1
    fi
    if ready; then
        echo "first run: \`cargo run --release -p flamelet -- serve\` is ready on 127.0.0.1:4040"
        exit 0
    fi
    sleep 1
done
echo "first run: not ready after an hour" >&2
cat "$log" >&2
exit 1
