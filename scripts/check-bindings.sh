#!/usr/bin/env bash
# Regenerates ffi/src/bindings.rs from ffi/include/dpu_offload.h and fails if it differs
# from the committed file. Needs libclang (scripts/install-deps.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
before=$(mktemp)
cp ffi/src/bindings.rs "$before"
cargo build -p dpukit-ffi --features regenerate-bindings --quiet
if ! diff -u "$before" ffi/src/bindings.rs; then
  echo "check-bindings: ffi/src/bindings.rs is stale; commit the regenerated file" >&2
  exit 1
fi
rm -f "$before"
echo "check-bindings: ffi/src/bindings.rs is fresh"
