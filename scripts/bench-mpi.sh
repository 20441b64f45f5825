#!/usr/bin/env bash
# What MPI costs: the same 4-node scenario as one process (4 node threads) and as
# `mpirun -n 4` (one node per rank), side by side, on this machine.
#   scripts/bench-mpi.sh [SIZE] [RUNS]      (defaults: 32m per node, 3 runs; the median counts)
# Needs a release build with the feature: cargo build --release --features mpi
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-32m}
runs=${2:-3}
bin=${DPUKIT:-${CARGO_TARGET_DIR:-target}/release/dpukit}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Prints "throughput_MBps slowest_node_s wall_s" of a result file.
figures() {
  python3 - "$1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print("%.1f %.3f %.3f" % (r["throughput"]["value"] / 1e6, r["per_node"]["elapsed_max"]["value"], r["wall"]["value"]))
EOF
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-14s %-8s %-9s %10s %10s %8s %8s\n' scenario mode how "MB/s" "slowest s" "wall s" "cmd s"
for scenario in fan-out-write fan-out-read; do
  for mode in host offload; do
    for how in process mpirun; do
      : >"$work/t"; : >"$work/s"; : >"$work/w"; : >"$work/c"
      for _ in $(seq "$runs"); do
        args=(run "$scenario" --mode "$mode" --size "$size" --seed 1 --quiet --work-dir "$work/w-$how" --out "$work/r.json")
        t0=$(date +%s.%N)
        if [ "$how" = process ]; then
          "$bin" "${args[@]}" --nodes 4 >/dev/null
        else
          mpirun --oversubscribe -n 4 "$bin" "${args[@]}" >/dev/null
        fi
        awk -v a="$(date +%s.%N)" -v b="$t0" "BEGIN {print a - b}" >>"$work/c"
        read -r t s w < <(figures "$work/r.json")
        echo "$t" >>"$work/t"; echo "$s" >>"$work/s"; echo "$w" >>"$work/w"
      done
      printf '%-14s %-8s %-9s %10s %10s %8s %8.3f\n' "$scenario" "$mode" "$how" \
        "$(median <"$work/t")" "$(median <"$work/s")" "$(median <"$work/w")" "$(median <"$work/c")"
    done
  done
done
echo "MB/s: total bytes over the slowest node's time (measured in host mode, modelled in offload mode);"
echo "slowest s: that node's time from the phase's barrier; wall s: the run inside dpukit, setup included;"
echo "cmd s: the whole command, process start (mpirun launch, MPI init) to exit (all measured)."
