#!/usr/bin/env bash
# Installs the system packages dpukit's tests need, only those missing, on Debian.
#   libclang-dev  bindings freshness check (bindgen)
#   gcc, valgrind C interop tests and their memcheck run
#   pkg-config    builds the C examples against an installed libdpukit (capi/tests/c_host.rs)
#   lz4 zstd gzip standard tools that must read dpukit's compressed output
#   chromium      headless browser that renders the HTML report in tests/report_html_chromium.rs
#   nodejs npm    Azurite (tools/azurite), the Azure Storage emulator the blob-tier tests use
#   python3 python3-venv  moto's S3 server (tools/moto, installed by scripts/s3.sh into a venv),
#                 the S3-compatible service the S3 blob-tier tests use
#   openmpi-bin libopenmpi-dev  mpirun and the library the `mpi` feature builds against
#                 (tests/mpi_runs.rs, tests/mpi_scale.rs)
#   bindfs        a real FUSE mount over a directory for the FUSE blob-tier test (tests/cli_fuse.rs)
#   g++           libFuzzer (built from source by libfuzzer-sys) for scripts/fuzz.sh
#   libdeflate-tools isal libisal-dev  the other deflate implementations scripts/baselines.sh
#                 holds the kernels against (libdeflate-gzip, igzip, ISA-L's library);
#                 libisal-dev is also linked by the kernels when present (gzip/zlib level 1;
#                 without it the build falls back to libdeflate there, and the tests fail)
#   libdpdk-dev librte-compress-isal23 librte-compress-zlib23  DPDK and its two software
#                 compressdev PMDs, which the `dpdk` feature builds against and its tests run
#                 (host/tests/dpdk_device.rs)
# and the cargo tool cargo-fuzz (pinned), which builds the fuzz targets.
set -euo pipefail

need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

have_cmd cc || need+=(gcc)
have_cmd valgrind || need+=(valgrind)
have_cmd pkg-config || need+=(pkg-config)
have_cmd lz4 || need+=(lz4)
have_cmd zstd || need+=(zstd)
have_cmd gzip || need+=(gzip)
[ -x /usr/bin/chromium ] || need+=(chromium)
have_cmd node || need+=(nodejs)
have_cmd npm || need+=(npm)
have_cmd python3 || need+=(python3)
# venv needs ensurepip (Debian splits it out as python3-venv; a python.org build has it).
{ have_cmd python3 && python3 -c 'import ensurepip, venv' 2>/dev/null; } || need+=(python3-venv)
have_pkg libclang-dev || need+=(libclang-dev)
have_cmd mpirun || need+=(openmpi-bin)
have_pkg libopenmpi-dev || need+=(libopenmpi-dev)
have_cmd g++ || need+=(g++)
have_cmd bindfs || need+=(bindfs)
have_cmd libdeflate-gzip || need+=(libdeflate-tools)
have_cmd igzip || need+=(isal)
have_pkg libisal-dev || need+=(libisal-dev)
have_pkg libdpdk-dev || need+=(libdpdk-dev)
have_pkg librte-compress-isal23 || need+=(librte-compress-isal23)
have_pkg librte-compress-zlib23 || need+=(librte-compress-zlib23)

if [ ${#need[@]} -gt 0 ]; then
  echo "install-deps: installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# rustfmt and clippy for the checks in .ci/run.
if have_cmd rustup; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi

# cargo-fuzz for scripts/fuzz.sh (about 30 s to build on 2 cores).
if ! have_cmd cargo-fuzz || ! cargo fuzz --version 2>/dev/null | grep -q ' 0\.13\.2$'; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi
