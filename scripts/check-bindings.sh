#!/usr/bin/env bash
# Regenerates the committed bindgen bindings (ffi/src/bindings.rs from
# ffi/include/dpu_offload.h; kernels/src/isal_bindings.rs from ISA-L's <isa-l/igzip_lib.h>;
# host/src/dpdk/sys.rs from host/dpdk/shim.h) and fails if any differs from the committed
# file. Needs libclang, libisal-dev and DPDK for the shim's build (scripts/install-deps.sh
# installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
check() { # file, then cargo build's arguments
  local file=$1
  shift
  local before
  before=$(mktemp)
  cp "$file" "$before"
  cargo build "$@" --quiet
  if ! diff -u "$before" "$file"; then
    echo "check-bindings: $file is stale; commit the regenerated file" >&2
    exit 1
  fi
  rm -f "$before"
  echo "check-bindings: $file is fresh"
}
check ffi/src/bindings.rs -p dpukit-ffi --features regenerate-bindings
check kernels/src/isal_bindings.rs -p dpukit-kernels --features regenerate-isal-bindings
check host/src/dpdk/sys.rs -p dpukit-host --features dpdk,regenerate-dpdk-bindings
