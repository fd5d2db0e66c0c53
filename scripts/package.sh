#!/usr/bin/env bash
# Builds dist/: the three functions, each composed with the S3 storage provider
# (functions/s3-store) so that it imports only wasi:*, and dist/spin.toml for Spin, SpinKube
# and `wasmtime serve`. Arguments go to `flamelet package` (see --help), e.g.
#   bash scripts/package.sh --s3-bucket profiles --s3-region eu-west-1
#   bash scripts/package.sh --s3-bucket profiles --s3-endpoint http://127.0.0.1:9000 --s3-allow-http
# Needs clang (Debian: apt-get install clang) to compile the provider's C (ring) for wasm32.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang >/dev/null 2>&1; then
    echo "error: clang is needed to build the S3 provider component: apt-get install clang" >&2
    exit 1
fi
cargo build --release --quiet -p flamelet
cargo build --quiet --profile component --target wasm32-wasip2 --target-dir target/components \
    -p flamelet-s3-store
target/release/flamelet package \
    --provider target/components/wasm32-wasip2/component/flamelet_s3_store.wasm --out dist "$@"
