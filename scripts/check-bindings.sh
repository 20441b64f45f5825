#!/usr/bin/env bash
# Regenerates the committed bindgen bindings (ffi/src/bindings.rs from
# ffi/include/dpu_offload.h; kernels/src/isal_bindings.rs from ISA-L's <isa-l/igzip_lib.h>)
# and fails if either differs from the committed file. Needs libclang and libisal-dev
# (scripts/install-deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
check() { # crate feature file
  local before
  before=$(mktemp)
  cp "$3" "$before"
  cargo build -p "$1" --features "$2" --quiet
  if ! diff -u "$before" "$3"; then
    echo "check-bindings: $3 is stale; commit the regenerated file" >&2
    exit 1
  fi
  rm -f "$before"
  echo "check-bindings: $3 is fresh"
}
check dpukit-ffi regenerate-bindings ffi/src/bindings.rs
check dpukit-kernels regenerate-isal-bindings kernels/src/isal_bindings.rs
