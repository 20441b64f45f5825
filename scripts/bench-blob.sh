#!/usr/bin/env bash
# Fan-out write and fan-in read against the local-filesystem blob tier and against Azurite,
# at the same size, host mode, side by side. Azurite figures are the emulator's, not Azure's.
#   scripts/bench-blob.sh [OUT_DIR]      (default: dpukit-out/bench-blob)
# Sizes from the environment: NODES (4), SIZE (64m per node), CHUNK (1m).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dpukit-out/bench-blob}"
mkdir -p "$out"
nodes="${NODES:-4}" size="${SIZE:-64m}" chunk="${CHUNK:-1m}"
cargo build --release --quiet --bin dpukit
dpukit="$PWD/target/release/dpukit"
[ -n "${CARGO_TARGET_DIR:-}" ] && dpukit="$CARGO_TARGET_DIR/release/dpukit"
knobs=(--mode host --nodes "$nodes" --size "$size" --chunk "$chunk" --quiet)

for s in fan-out-write fan-in-read; do
  "$dpukit" run "$s" "${knobs[@]}" --out "$out/$s-local.json" >/dev/null
done
# shellcheck disable=SC2016
scripts/azurite.sh bash -c '
  set -euo pipefail
  node tools/azurite/create-container.js "$DPUKIT_AZURITE_URL" bench
  for s in fan-out-write fan-in-read; do
    "$0" run "$s" "${@:2}" --blob azure://bench/dpukit --blob-emulator --out "$1/$s-azurite.json" >/dev/null
  done' "$dpukit" "$out" "${knobs[@]}"

python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
def fig(r, name):
    for n, f in r["extra"]:
        if n == name:
            return f["value"]
    return None
mib = 1 << 20
print(f"{'run':<28}{'throughput MiB/s':>18}{'copy MiB/s*':>12}{'lag p50 ms':>12}{'lag p99 ms':>12}  tier")
for s in ["fan-out-write", "fan-in-read"]:
    for tier in ["local", "azurite"]:
        r = json.load(open(f"{out}/{s}-{tier}.json"))
        tp = r["throughput"]["value"] / mib
        cp, p50, p99 = (fig(r, k) for k in ["blob_copy_throughput", "blob_copy_lag_p50", "blob_copy_lag_p99"])
        cell = lambda v, d: f"{v / d:>12.1f}" if v is not None else f"{'-':>12}"
        label = "emulator" if r["blob_tier"]["emulator"] else r["blob_tier"]["kind"]
        print(f"{s + ' ' + tier:<28}{tp:>18.1f}{cell(cp, mib)}{cell(p50, 1e6)}{cell(p99, 1e6)}  {label}")
PY
echo "* copy throughput counts stored (compressed) bytes; local and lag figures are this machine's"
