#!/usr/bin/env bash
# Installs libdpukit for C programs: PREFIX/lib/libdpukit.{so,a}, PREFIX/include/
# {dpukit.h,dpu_offload.h} and PREFIX/lib/pkgconfig/dpukit.pc. Then
#   PKG_CONFIG_PATH=PREFIX/lib/pkgconfig cc prog.c $(pkg-config --cflags --libs dpukit)
# Builds the release library first, unless DPUKIT_LIB_DIR names a directory that holds
# already-built libdpukit.so and libdpukit.a (the tests install their debug build so).
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: scripts/install-lib.sh PREFIX   (e.g. \$HOME/.local or /usr/local)" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
mkdir -p "$1"
prefix="$(cd "$1" && pwd)"
libdir="${DPUKIT_LIB_DIR:-}"
if [ -z "$libdir" ]; then
  cargo build --release -p dpukit-capi
  libdir="${CARGO_TARGET_DIR:-target}/release"
fi
for f in libdpukit.so libdpukit.a; do
  if [ ! -f "$libdir/$f" ]; then
    echo "install-lib: $libdir/$f not found (build it with: cargo build --release -p dpukit-capi)" >&2
    exit 1
  fi
done
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
install -d "$prefix/lib/pkgconfig" "$prefix/include"
install -m 0755 "$libdir/libdpukit.so" "$prefix/lib/libdpukit.so"
install -m 0644 "$libdir/libdpukit.a" "$prefix/lib/libdpukit.a"
install -m 0644 ffi/include/dpu_offload.h capi/include/dpukit.h "$prefix/include/"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" capi/dpukit.pc.in > "$prefix/lib/pkgconfig/dpukit.pc"
echo "install-lib: libdpukit $version installed in $prefix (pkg-config: PKG_CONFIG_PATH=$prefix/lib/pkgconfig)"
