#!/usr/bin/env bash
# Holds two builds of dpukit against each other on the same inputs, for a change that must
# not change behaviour: every scale-mode case's JSON result must be identical (the model's
# own run time in its note aside) and every live case's manifest digest, bytes, ops and
# verification too.
#
#   scripts/compare-builds.sh OLD_DPUKIT NEW_DPUKIT [--scale-only]
#
# Build the old binary from the commit before the change (e.g. `git worktree add /tmp/old
# HEAD~1 && cargo build --manifest-path /tmp/old/Cargo.toml`). Both builds use one
# calibration, measured once by the old one. Takes about ten minutes on two cores.
set -euo pipefail
old=$1 new=$2 scale_only=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$old" calibrate --quiet --out "$work/cal.json" >/dev/null

scale_cases() {
  for mode in host offload; do
    for sc in fan-out-write fan-out-read fan-in-read kv-cache; do
      echo "$sc --mode $mode --nodes 4 --size 64m --chunk 1m"
      echo "$sc --mode $mode --nodes 2 --size 32m --chunk 256k --colocated"
      echo "$sc --mode $mode --nodes 1 --size 16m --chunk 1m --colocated --compress lz4"
      echo "$sc --mode $mode --nodes 300 --size 1g --chunk 1m --profile bluefield-3 --compress zstd:3"
      echo "$sc --mode $mode --nodes 16 --size 256m --chunk 64k --profile fungible-f1 --batch 4 --queue-depth 16 --oversubscription 4"
    done
    echo "fan-out-read --mode $mode --nodes 8 --size 128m --chunk 1m --no-peers"
    echo "fan-out-read --mode $mode --nodes 8 --size 128m --chunk 1m --skew 1.2 --cache-chunks 32 --compress gzip"
    echo "fan-in-read --mode $mode --nodes 12 --readers 3 --shift 2 --size 64m --chunk 1m"
    echo "fan-out-write --mode $mode --nodes 10000 --size 10g --chunk 1m"
    echo "fan-out-read --mode $mode --nodes 10000 --size 10g --chunk 1m"
  done
}

live_cases() {
  for mode in host offload; do
    echo "fan-out-write --mode $mode --nodes 2 --size 8m --chunk 256k"
    echo "fan-out-write --mode $mode --nodes 1 --size 8m --chunk 1m --compress zstd:3"
    echo "fan-out-write --mode $mode --nodes 2 --size 4m --chunk 64k --compress gzip --batch 4"
    echo "fan-out-read --mode $mode --nodes 3 --size 8m --chunk 256k"
    echo "fan-out-read --mode $mode --nodes 2 --size 8m --chunk 256k --no-peers --cache-chunks 8 --skew 1.2"
    echo "fan-in-read --mode $mode --nodes 4 --readers 2 --shift 1 --size 4m --chunk 256k"
    echo "kv-cache --mode $mode --nodes 2 --kv-requests 300 --skew 1.1 --cache-chunks 64"
    echo "kv-cache --mode $mode --nodes 1 --kv-requests 200 --compress zstd:1 --profile bluefield-3"
  done
}

# The figures of a result that must not move: everything in scale mode (the model's own
# run time aside), the stored chunks and their verification live.
summary() {
  python3 - "$1" "$2" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
if sys.argv[2] == "scale":
    def norm(x):
        if isinstance(x, dict): return {k: norm(v) for k, v in x.items()}
        if isinstance(x, list): return [norm(v) for v in x]
        if isinstance(x, str): return re.sub(r"modelled in [0-9.]+ s", "modelled in X s", x)
        return x
    print(json.dumps(norm(d), sort_keys=True))
else:
    extra = {k: v["value"] for k, v in d["extra"]}
    print(int(extra.get("manifest_digest", -1)), d["bytes"], d["ops"], d["verification"]["ok"],
          d["verification"]["chunks_checked"])
PY
}

differ=0 n=0
run_all() {
  local kind=$1
  while read -r args; do
    n=$((n + 1))
    for which in old new; do
      bin=$old; [ "$which" = new ] && bin=$new
      out="$work/$which.json"
      rm -rf "$work/run"
      if [ "$kind" = scale ]; then
        # shellcheck disable=SC2086
        "$bin" run $args --scale --calibration "$work/cal.json" --quiet --out "$out" >/dev/null 2>"$work/$which.err" \
          && summary "$out" scale >"$work/$which.sum" || cp "$work/$which.err" "$work/$which.sum"
      else
        # shellcheck disable=SC2086
        "$bin" run $args --quiet --out "$out" --work-dir "$work/run" >/dev/null 2>"$work/$which.err" \
          && summary "$out" live >"$work/$which.sum" || cp "$work/$which.err" "$work/$which.sum"
      fi
    done
    if cmp -s "$work/old.sum" "$work/new.sum"; then
      echo "same      $kind: $args"
    else
      echo "DIFFERENT $kind: $args"
      differ=$((differ + 1))
    fi
  done
}
run_all scale < <(scale_cases)
[ "$scale_only" = --scale-only ] || run_all live < <(live_cases)
echo "$n cases, $differ different"
[ "$differ" -eq 0 ]
