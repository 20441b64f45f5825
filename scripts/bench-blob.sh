#!/usr/bin/env bash
# Fan-out write and fan-in read against the local-filesystem blob tier, the same directory
# through a FUSE mount (bindfs, where /dev/fuse allows), Azurite and moto's S3 server, at the
# same size, host mode, side by side. Emulator figures are the emulator's, not the service's.
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
# shellcheck disable=SC2016
scripts/s3.sh bash -c '
  set -euo pipefail
  tools/moto/.venv/bin/python -c "import boto3,sys; boto3.client(\"s3\", endpoint_url=sys.argv[1], region_name=\"us-east-1\", aws_access_key_id=\"x\", aws_secret_access_key=\"x\").create_bucket(Bucket=\"bench\")" "$DPUKIT_S3_URL"
  for s in fan-out-write fan-in-read; do
    "$0" run "$s" "${@:2}" --blob s3://bench/dpukit --blob-emulator --blob-endpoint "$DPUKIT_S3_URL" --out "$1/$s-s3.json" >/dev/null
  done' "$dpukit" "$out" "${knobs[@]}"
tiers="local azurite s3"
if [ -e /dev/fuse ] && command -v bindfs >/dev/null; then
  src="$(mktemp -d)" mnt="$(mktemp -d)"
  if bindfs "$src" "$mnt" 2>/dev/null; then
    for s in fan-out-write fan-in-read; do
      "$dpukit" run "$s" "${knobs[@]}" --blob "$mnt" --out "$out/$s-fuse.json" >/dev/null
    done
    fusermount -u "$mnt" || umount -l "$mnt"
    tiers="local fuse azurite s3"
  fi
  rm -rf "$src" "$mnt"
fi

python3 - "$out" "$tiers" <<'PY'
import json, sys
out, tiers = sys.argv[1], sys.argv[2].split()
def fig(r, name):
    for n, f in r["extra"]:
        if n == name:
            return f["value"]
    return None
mib = 1 << 20
print(f"{'run':<28}{'throughput MiB/s':>18}{'copy MiB/s*':>12}{'lag p50 ms':>12}{'lag p99 ms':>12}  tier")
for s in ["fan-out-write", "fan-in-read"]:
    for tier in tiers:
        r = json.load(open(f"{out}/{s}-{tier}.json"))
        tp = r["throughput"]["value"] / mib
        cp, p50, p99 = (fig(r, k) for k in ["blob_copy_throughput", "blob_copy_lag_p50", "blob_copy_lag_p99"])
        cell = lambda v, d: f"{v / d:>12.1f}" if v is not None else f"{'-':>12}"
        t = r["blob_tier"]
        label = t["kind"] + (f" ({t['mount']['fstype']})" if t.get("mount") else "") + (" emulator" if t["emulator"] else "")
        print(f"{s + ' ' + tier:<28}{tp:>18.1f}{cell(cp, mib)}{cell(p50, 1e6)}{cell(p99, 1e6)}  {label}")
PY
echo "* copy throughput counts stored (compressed) bytes; local and lag figures are this machine's"
