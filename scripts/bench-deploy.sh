#!/usr/bin/env bash
# The packaged components against the native host on one moto S3 bucket: 24 hourly folded
# uploads through `wasmtime serve` (dist/flamelet-ingest.wasm), then 30 sequential 24 h renders
# through each of
#   wasmtime serve + dist/flamelet-query.wasm (provider over wasi:http),
#   flamelet serve --storage s3://… (native object_store client),
#   flamelet serve --manifest dist/spin.toml (the composed app in the native host),
# before and after a compaction pass, with object-store requests per render read from the
# hosts' /metrics. Needs what scripts/test-deps.sh installs; writes nothing outside /tmp.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/package.sh >/dev/null 2>&1 || true
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
s3=$(free_port)
python3 -m moto.server -H 127.0.0.1 -p "$s3" >"$work/moto.log" 2>&1 &
until curl -s -o /dev/null "http://127.0.0.1:$s3"; do sleep 0.2; done
curl -s -X PUT -o /dev/null "http://127.0.0.1:$s3/flamelet"
target/release/flamelet package \
    --provider target/components/wasm32-wasip2/component/flamelet_s3_store.wasm \
    --out "$work/dist" --s3-endpoint "http://127.0.0.1:$s3" --s3-allow-http \
    --s3-bucket flamelet --s3-prefix m >/dev/null
env=(--env FLAMELET_S3_BUCKET=flamelet --env FLAMELET_S3_PREFIX=m
     --env "FLAMELET_S3_ENDPOINT=http://127.0.0.1:$s3" --env FLAMELET_S3_ALLOW_HTTP=true
     --env AWS_ACCESS_KEY_ID=test --env AWS_SECRET_ACCESS_KEY=test)
ingest=$(free_port) wasm=$(free_port) native=$(free_port) composed=$(free_port)
"$HOME/.cargo/bin/wasmtime" serve -Scli -Shttp "${env[@]}" --addr "127.0.0.1:$ingest" \
    "$work/dist/flamelet-ingest.wasm" 2>"$work/ingest.log" &
"$HOME/.cargo/bin/wasmtime" serve -Scli -Shttp "${env[@]}" --addr "127.0.0.1:$wasm" \
    "$work/dist/flamelet-query.wasm" 2>"$work/query.log" &
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test target/release/flamelet serve --no-cron \
    --listen "127.0.0.1:$native" \
    --storage "s3://flamelet/m?endpoint=http://127.0.0.1:$s3&allow_http=true&region=us-east-1" \
    2>"$work/native.log" &
target/release/flamelet serve --no-cron --listen "127.0.0.1:$composed" --storage memory:// \
    --manifest "$work/dist/spin.toml" --env AWS_ACCESS_KEY_ID=test \
    --env AWS_SECRET_ACCESS_KEY=test 2>"$work/composed.log" &
for p in $ingest $wasm $native $composed; do
    until curl -s -o /dev/null "http://127.0.0.1:$p/"; do sleep 0.2; done
done
t0=1700000000
for i in $(seq 0 23); do
    printf 'main;work;a 10\nmain;idle 3\n' | curl -sf -o /dev/null --data-binary @- \
        "http://127.0.0.1:$ingest/ingest?name=app.cpu&from=$((t0 + i * 3600))"
done
q="/pyroscope/render?query=app.cpu%7B%7D&from=$((t0 - 3600))&until=$((t0 + 86400))"
requests() {
    curl -s "http://127.0.0.1:$1/metrics" |
        awk '/^flamelet_(object_store_operations|outbound_requests)_total/ { s += $2 } END { print s + 0 }'
}
measure() {
    for p in $wasm $native $composed; do curl -sf -o /dev/null "http://127.0.0.1:$p$q"; done
    local n=30 before_native before_composed
    before_native=$(requests "$native") before_composed=$(requests "$composed")
    for pair in "wasmtime-serve:$wasm" "native:$native" "composed-in-flamelet:$composed"; do
        local name=${pair%%:*} port=${pair##*:} start end
        start=$(date +%s%N)
        for _ in $(seq $n); do curl -sf -o /dev/null "http://127.0.0.1:$port$q"; done
        end=$(date +%s%N)
        echo "$1 $name: $(( (end - start) / n / 1000000 )) ms per 24 h render"
    done
    echo "$1 object-store requests per render: native $(( ($(requests "$native") - before_native) / n )), composed $(( ($(requests "$composed") - before_composed) / n ))"
}
measure "24 L0 segments:"
curl -sf -X POST -o /dev/null "http://127.0.0.1:$composed/flamelet/compact"
measure "compacted:"
