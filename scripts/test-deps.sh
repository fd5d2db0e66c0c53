#!/usr/bin/env bash
# Installs what the test suite needs besides Rust, idempotently: from PyPI an S3 server (moto)
# for the storage tests, the pyroscope-io client and Google's protobuf runtime (the corpus
# tests' independent pprof decoder), from npm the @pyroscope/nodejs client
# (into tests/clients/node), and from crates.io the `pyroscope` crate, built into the Rust
# client program (target/clients/rust). Does nothing when they are already there.
set -euo pipefail
if ! python3 -c "import moto.server" >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check "moto[server]==5.2.1"
fi
if ! python3 -c "import pyroscope" >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check "pyroscope-io==1.4.0"
fi
if ! python3 -c "import google.protobuf" >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check "protobuf==5.29.3"
fi
python3 -c "import moto.server, pyroscope, google.protobuf"
root="$(cd "$(dirname "$0")/.." && pwd)"
node_dir="$root/tests/clients/node"
if [ ! -d "$node_dir/node_modules/@pyroscope/nodejs" ]; then
    npm install --no-audit --no-fund --silent --prefix "$node_dir"
fi
# The Rust client (the `pyroscope` crate from crates.io); cargo does nothing when it is built.
cargo build --quiet --release -j 2 --manifest-path "$root/tests/clients/rust/Cargo.toml" \
    --target-dir "$root/target/clients/rust"
