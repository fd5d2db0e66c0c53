#!/usr/bin/env bash
# Installs what the test suite needs besides Rust, idempotently: an S3 server (moto, from PyPI)
# for the storage tests. Safe to run again; does nothing when it is already there.
set -euo pipefail
if ! python3 -c "import moto.server" >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check "moto[server]==5.2.1"
fi
python3 -c "import moto.server"
