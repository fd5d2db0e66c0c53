#!/usr/bin/env bash
# Runs the fuzz targets (fuzz/fuzz_targets, each a function of flamelet::fuzzing) with
# libFuzzer through cargo-fuzz, on this project's pinned stable Rust (no sanitizer, so no
# nightly): `scripts/fuzz.sh [TARGET...]`, FUZZ_SECONDS each (default 60). Seeds come from the
# shared corpus (../shared/corpus), prefixed with the byte that picks the format or codec;
# the corpus grows under fuzz/corpus (not committed). An input that crashes, times out (1 s)
# or exceeds libFuzzer's memory limit (2 GiB) is left in fuzz/artifacts/TARGET and fails the
# run: copy it to shared/tests/data/fuzz/TARGET/ so that `cargo test` replays it for ever.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seconds="${FUZZ_SECONDS:-60}"
corpus="$root/../shared/corpus"
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --quiet --locked cargo-fuzz@0.13.2
fi

# seed TARGET PICK FILE...: FILE with the byte PICK (decimal; "" for none) in front.
seed() {
    local target="$1" pick="$2"
    shift 2
    mkdir -p "fuzz/corpus/$target"
    for f in "$@"; do
        [ -f "$f" ] || continue
        local out
        out="fuzz/corpus/$target/seed-${pick:-x}-$(basename "$f")"
        [ -e "$out" ] && continue
        if [ -n "$pick" ]; then
            { printf "\\$(printf '%03o' "$pick")"; cat "$f"; } >"$out"
        else
            cp "$f" "$out"
        fi
    done
}
if [ -d "$corpus" ]; then
    seed pprof "" "$corpus"/pprof/*
    seed upload 5 "$corpus"/pprof/*        # pprof
    seed upload 4 "$corpus"/speedscope/*   # speedscope
    seed upload 6 "$corpus"/jfr/*.jfr.gz   # jfr
    seed otlp 1 "$corpus"/otlp/*           # JSON
    seed segment "" "$root"/shared/tests/data/segment/*/*.parquet
    seed manifest "" "$root"/shared/tests/data/manifest/*.json
    # segment_query: the pick byte, then where the hot part and day sums start (0: unknown
    # to the seed; the fuzzer moves them), then a segment.
    mkdir -p fuzz/corpus/segment_query
    for pick in 0 5 7 10; do
        for f in "$root"/shared/tests/data/segment/*/*.parquet; do
            out="fuzz/corpus/segment_query/seed-$pick-$(basename "$(dirname "$f")")-$(basename "$f")"
            [ -e "$out" ] || { printf "\\$(printf '%03o' "$pick")\\0\\0\\0\\0\\0\\0\\0\\0"; cat "$f"; } >"$out"
        done
    done
    # jfr_labels: the snapshot's length (two bytes, little-endian), the snapshot, the recording.
    mkdir -p fuzz/corpus/jfr_labels
    for labels in "$corpus"/jfr/*.labels.pb.gz; do
        [ -f "$labels" ] || continue
        dump="${labels%.labels.pb.gz}"
        out="fuzz/corpus/jfr_labels/seed-$(basename "$dump")"
        [ -e "$out" ] && continue
        len=$(stat -c %s "$labels")
        { printf "\\$(printf '%03o' $((len % 256)))\\$(printf '%03o' $((len / 256)))"
          cat "$labels" "$dump.jfr.gz"; } >"$out"
    done
fi
mkdir -p fuzz/corpus/upload fuzz/corpus/selector fuzz/corpus/time_params fuzz/corpus/connect_query \
    fuzz/corpus/multipart fuzz/corpus/tenant
printf 'team-a' >fuzz/corpus/tenant/seed-plain
printf '../x\000team-a' >fuzz/corpus/tenant/seed-climb
printf 'multipart/form-data; boundary=B\n--B\r\nContent-Disposition: form-data; name="jfr"; filename="jfr"\r\nContent-Type: application/octet-stream\r\n\r\nJFR\r\n--B\r\nContent-Disposition: form-data; name="labels"\r\n\r\n\r\n--B--\r\n' \
    >fuzz/corpus/multipart/seed-jfr
printf '\000main;work;deep 3\nmain;idle 1\n' >fuzz/corpus/upload/seed-folded
printf '\001main;work\nmain;idle\n' >fuzz/corpus/upload/seed-lines
printf 'app.cpu{env="prod",region=~"eu-.*"}' >fuzz/corpus/selector/seed-legacy
printf 'process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name!="a"}' >fuzz/corpus/selector/seed-current
printf 'now-1h\000now' >fuzz/corpus/time_params/seed-relative
printf '1700000000\0001700003600000' >fuzz/corpus/time_params/seed-unix
printf '\024{"profileTypeID":"process_cpu:cpu:nanoseconds:cpu:nanoseconds","labelSelector":"{}","start":"1699990000000","end":"1700010000000"}' \
    >fuzz/corpus/connect_query/seed-merge-json

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
failed=()
for t in "${targets[@]}"; do
    echo "== $t: ${seconds} s"
    status=0
    cargo fuzz run "$t" --sanitizer none -- \
        -max_total_time="$seconds" -timeout=1 -rss_limit_mb=2048 -print_final_stats=1 \
        >"fuzz/$t.log" 2>&1 || status=$?
    grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY)|DONE +cov:" "fuzz/$t.log" || true
    if [ "$status" -ne 0 ]; then
        failed+=("$t")
    fi
    if [ -n "$(ls -A "fuzz/artifacts/$t" 2>/dev/null)" ]; then
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found inputs that fail: ${failed[*]} (fuzz/artifacts/)" >&2
    exit 1
fi
