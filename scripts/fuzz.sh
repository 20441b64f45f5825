#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer through cargo-fuzz) on the stable toolchain:
#   scripts/fuzz.sh TARGET SECONDS [RUNS]   one target for SECONDS (or RUNS executions, if first)
#   scripts/fuzz.sh all SECONDS [RUNS]      every target in turn, the same bound each
#   scripts/fuzz.sh list                    the targets
# cargo-fuzz's instrumentation flags are unstable options; RUSTC_BOOTSTRAP=1 lets stable
# rustc accept them for this build only. Environment:
#   FUZZ_SANITIZER  address (default when rustc ships the ASan runtime) or none
#   FUZZ_JOBS       cargo build jobs (default: cargo's)
#   FUZZ_BUILD_ONLY 1: build, run nothing
# Corpora grow in fuzz/corpus/TARGET (not committed), starting from fuzz/seeds/TARGET
# (committed); a crash is saved in fuzz/artifacts/TARGET/ and fails the script. Each run
# ends with one summary line: executions, executions/s, coverage (libFuzzer's edges `cov`
# and features `ft`), corpus size, crashes. Logs: fuzz/logs/TARGET-SANITIZER.log.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

targets() {
  # In the order of fuzz/Cargo.toml.
  sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^dpukit-fuzz$'
}

usage() {
  echo "usage: scripts/fuzz.sh TARGET|all SECONDS [RUNS]   (targets: $(targets | tr '\n' ' '))" >&2
  exit 2
}

[ $# -ge 1 ] || usage
if [ "$1" = list ]; then
  targets
  exit 0
fi
[ $# -ge 2 ] || usage
what=$1 seconds=$2 runs=${3:-0}
[[ "$seconds" =~ ^[0-9]+$ ]] || usage
[[ "$runs" =~ ^[0-9]+$ ]] || usage
if [ "$what" = all ]; then
  mapfile -t chosen < <(targets)
elif targets | grep -qx "$what"; then
  chosen=("$what")
else
  echo "fuzz.sh: no target \`$what\` (targets: $(targets | tr '\n' ' '))" >&2
  exit 2
fi

command -v cargo-fuzz >/dev/null 2>&1 || {
  echo "fuzz.sh: cargo-fuzz is missing; scripts/install-deps.sh installs it" >&2
  exit 1
}
host=$(rustc -vV | sed -n 's/^host: //p')
sanitizer=${FUZZ_SANITIZER:-}
if [ -z "$sanitizer" ]; then
  if ls "$(rustc --print sysroot)/lib/rustlib/$host/lib/"librustc-*_rt.asan.a >/dev/null 2>&1; then
    sanitizer=address
  else
    sanitizer=none
  fi
fi

jobs=()
[ -n "${FUZZ_JOBS:-}" ] && jobs=(--jobs "$FUZZ_JOBS")
echo "fuzz.sh: building ${chosen[*]} (sanitizer: $sanitizer)" >&2
# AddressSanitizer builds go where `cargo fuzz` puts them by default; the others beside
# them, so switching does not rebuild everything.
target_dir=fuzz/target
[ "$sanitizer" = address ] || target_dir="fuzz/target/sanitizer-$sanitizer"
RUSTC_BOOTSTRAP=1 cargo fuzz build --fuzz-dir fuzz -O --sanitizer "$sanitizer" --target-dir "$target_dir" \
  "${jobs[@]}" >&2
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

bin_dir="$target_dir/$host/release"
mkdir -p fuzz/logs
failed=()
for t in "${chosen[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  log="fuzz/logs/$t-$sanitizer.log"
  args=(-max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$root/fuzz/artifacts/$t/")
  [ "$runs" -gt 0 ] && args+=(-runs="$runs")
  # Failures only: libFuzzer also leaves slow-unit-* files, which fail nothing.
  failures() { find "fuzz/artifacts/$t" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l; }
  before=$(failures)
  status=0
  "$bin_dir/$t" "${args[@]}" "fuzz/corpus/$t" "fuzz/seeds/$t" >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -ao 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  corp=$(grep -ao 'corp: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  crashes=$(($(failures) - before))
  printf 'fuzz %-12s executions %10s  exec/s %6s  cov %5s  ft %6s  corpus %5s  crashes %s  (%s s, sanitizer %s)\n' \
    "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes" "$seconds" "$sanitizer"
  if [ "$status" -ne 0 ]; then
    echo "fuzz.sh: $t failed (exit $status); the input is in fuzz/artifacts/$t/, the log is $log:" >&2
    grep -a -A30 -m1 -E '^(==[0-9]+==ERROR|thread .* panicked|SUMMARY)' "$log" >&2 || tail -40 "$log" >&2
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failed: ${failed[*]}" >&2
  exit 1
fi
