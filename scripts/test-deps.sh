#!/usr/bin/env bash
# Installs what the test suite needs besides Rust, idempotently: from PyPI an S3 server (moto)
# for the storage tests, the pyroscope-io client and Google's protobuf runtime (the corpus
# tests' independent pprof decoder), from npm the @pyroscope/nodejs client
# and express for its pull-mode middleware (into tests/clients/node), and from crates.io the `pyroscope` crate, built into the Rust
# client program (target/clients/rust), Azurite from npm (into tests/emulators) with the
# azure-storage-blob client from PyPI that creates its containers, and `wasmtime-cli` (the host the project did not write,
# for the packaged components), Debian's Chromium and playwright-core (npm, into
# tests/browser) for the UI's browser tests, Debian's Prometheus (it scrapes /exported-metrics in
# the metrics tests). Debian's clang compiles the S3 provider component's C (ring,
# for request signing) for wasm32. Does nothing when they are already there.
set -euo pipefail
# Installs Debian package $2 unless command $1 exists; $3 says what needs it.
apt_install() {
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq "$2" >/dev/null
    else
        echo "error: $1 is needed $3: install it (apt-get install $2)" >&2
        exit 1
    fi
}
apt_install clang clang "to build functions/s3-store"
# Debian's Chromium for the UI's browser tests (a browser download does not work here), and
# playwright-core from npm to drive it (tests/browser).
apt_install chromium chromium "for the UI's browser tests"
# A real Prometheus for the metrics tests (the package does not start it here).
apt_install prometheus prometheus "for the metrics tests"
# wasmtime serve with only what it needs; cargo installs it once into ~/.cargo/bin.
WASMTIME_VERSION=48.0.8
if ! "${CARGO_HOME:-$HOME/.cargo}/bin/wasmtime" --version 2>/dev/null | grep -q "^wasmtime $WASMTIME_VERSION"; then
    cargo install --quiet --locked "wasmtime-cli@$WASMTIME_VERSION" --no-default-features \
        --features serve,run,cranelift,cache,parallel-compilation,component-model-async,pooling-allocator
fi
if ! python3 -c "import moto.server" >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check "moto[server]==5.2.1"
fi
if ! python3 -c "import pyroscope" >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check "pyroscope-io==1.4.0"
fi
if ! python3 -c "import google.protobuf" >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check "protobuf==5.29.3"
fi
if ! python3 -c "import azure.storage.blob" >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check "azure-storage-blob==12.24.0"
fi
python3 -c "import moto.server, pyroscope, google.protobuf, azure.storage.blob"
root="$(cd "$(dirname "$0")/.." && pwd)"
node_dir="$root/tests/clients/node"
if [ ! -d "$node_dir/node_modules/@pyroscope/nodejs" ] || [ ! -d "$node_dir/node_modules/express" ]; then
    npm install --no-audit --no-fund --silent --prefix "$node_dir"
fi
browser_dir="$root/tests/browser"
if [ ! -d "$browser_dir/node_modules/playwright-core" ]; then
    npm install --no-audit --no-fund --silent --prefix "$browser_dir"
fi
# Azurite, the Azure Blob Storage emulator the az:// tests run against.
emulators="$root/tests/emulators"
if [ ! -x "$emulators/node_modules/.bin/azurite-blob" ]; then
    npm install --no-audit --no-fund --silent --prefix "$emulators"
fi
# The Rust client (the `pyroscope` crate from crates.io); cargo does nothing when it is built.
cargo build --quiet --release -j 2 --manifest-path "$root/tests/clients/rust/Cargo.toml" \
    --target-dir "$root/target/clients/rust"
# cargo-fuzz, and the fuzz targets built (libFuzzer without a sanitizer, so stable Rust), which
# the suite runs briefly (shared/tests/fuzz_brief.rs); cargo does nothing when they are built.
if ! cargo fuzz --version 2>/dev/null | grep -q "0\.13\.2"; then
    cargo install --quiet --locked cargo-fuzz@0.13.2
fi
(cd "$root" && CARGO_BUILD_JOBS=2 cargo fuzz build --sanitizer none >/dev/null)
