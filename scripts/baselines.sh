#!/usr/bin/env bash
# Host compression baselines: the kit's kernels beside the libraries they could be built on
# (called directly on the same chunks at the same levels) and the Debian tools' own
# benchmark modes on the same file, as one table with the command of each row.
#
#   scripts/baselines.sh                  # 16 MB of each data set, 1 s per figure
#   BASELINES_MB=8 BASELINES_SECS=0.3 scripts/baselines.sh
#
# Data: a real text corpus (the man pages' troff source, `zcat /usr/share/man/man1/*.gz`,
# else /usr/share/common-licenses and /usr/share/doc/*/copyright) and the kit's generated
# data at its default compressibility (2.0, bf16-like words, as a scenario's chunks). Chunk
# sizes: the kit's default chunk (1 MiB) and 64 KiB.
#
# Figures are MB/s (10^6 bytes) of uncompressed data per core. The library rows
# (kernels/examples/baselines.rs, scripts/baselines/isal_bench.c) time on the thread's CPU
# clock, so other load on a shared machine does not count; the tools' figures are their own
# (`zstd -b`, `lz4 -b`: wall clock, fastest run), or user+sys CPU time of one whole-file run
# for libdeflate-gzip and igzip, which have no benchmark mode. "target" is the kit's figure
# over the fastest other row at the same algorithm, level and chunk (whole-file rows count
# for every chunk size); ISA-L's levels 0..3 are its own scale and are not the same levels
# (docs/baselines.md maps them by ratio), except that the kit's gzip level 1, which is ISA-L
# level 3, is also held against ISA-L level 3.
#
# Installs nothing: scripts/install-deps.sh provides the tools and libisal-dev.
set -euo pipefail
cd "$(dirname "$0")/.."

mb=${BASELINES_MB:-16}
secs=${BASELINES_SECS:-1}
# `zstd -b` and `lz4 -b` take whole seconds.
tool_secs=$(awk -v s="$secs" 'BEGIN { t = int(s); if (t < s) t++; print (t < 1 ? 1 : t) }')
for tool in zstd lz4 libdeflate-gzip libdeflate-gunzip igzip cc; do
  command -v "$tool" >/dev/null || { echo "baselines: $tool is missing: run scripts/install-deps.sh" >&2; exit 1; }
done
[ -f /usr/include/isa-l/igzip_lib.h ] || { echo "baselines: libisal-dev is missing: run scripts/install-deps.sh" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "baselines: building (release)" >&2
cargo build --release --quiet -p dpukit-kernels --example baselines
bench=target/release/examples/baselines
cc -O2 -o "$work/isal_bench" scripts/baselines/isal_bench.c -lisal

bytes=$((mb * 1000000))
text="$work/text"
if compgen -G "/usr/share/man/man1/*.gz" >/dev/null; then
  corpus="man pages (zcat /usr/share/man/man1/*.gz | head -c $bytes)"
  find /usr/share/man/man1 -name '*.gz' | LC_ALL=C sort | xargs zcat 2>/dev/null | head -c "$bytes" >"$text" || true
fi
if [ ! -s "$text" ] || [ "$(stat -c %s "$text")" -lt $((2 << 20)) ]; then
  corpus="licenses and copyright files"
  cat /usr/share/common-licenses/* /usr/share/doc/*/copyright 2>/dev/null | head -c "$bytes" >"$text" || true
fi
gen="$work/generated"
"$bench" --generated "$bytes" --dump "$gen"
echo "baselines: load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores" >&2
echo "baselines: text = $corpus, $(stat -c %s "$text") bytes; generated = $bytes bytes; $secs s per figure" >&2

rows="$work/rows.tsv"
: >"$rows"
# Library rows: data, chunk, algorithm, level, library, version, compress, decompress, ratio, command.
ver_isal=$(dpkg-query -W -f='${Version}' libisal2 2>/dev/null || igzip -V | awk '{print $NF}')
for data in text generated; do
  file="$work/$data"
  for chunk in 1048576 65536; do
    echo "baselines: $data, $chunk-byte chunks" >&2
    "$bench" --input "$file" --label "$data" --chunk "$chunk" --min-secs "$secs" |
      awk -F'\t' -v OFS='\t' \
        '{ print $0, "cargo run --release -p dpukit-kernels --example baselines -- --input FILE --chunk " $2 " --min-secs SECS" }' >>"$rows"
    for level in 0 1 2 3; do
      "$work/isal_bench" "$file" "$chunk" "$level" "$secs" |
        awk -F'\t' -v OFS='\t' -v d="$data" -v ch="$chunk" -v v="$ver_isal" \
          '{ print d, ch, "gzip", "isal-" $1, "ISA-L igzip (libisal, C)", v, $2, $3, $4, "isal_bench FILE " ch " " $1 " SECS" }' >>"$rows"
    done
    # The tools' benchmark modes, cutting the file into chunks of the same size.
    ver=$(zstd -V | sed -E 's/.* v([0-9.]+).*/\1/')
    zstd -q -b1 -e3 -B"$chunk" -i"$tool_secs" "$file" 2>&1 | awk -v OFS='\t' -v d="$data" -v ch="$chunk" -v v="$ver" \
      '$1 ~ /^-[0-9]+$/ { r = $3; gsub(/[()x]/, "", r); print d, ch, "zstd", substr($1, 2), "zstd -b (tool, wall clock)", v, $4, $6, r, "zstd -b" substr($1, 2) " -B" ch " -i SECS FILE" }' >>"$rows"
    ver=$(lz4 -V | sed -E 's/.* v([0-9.]+).*/\1/')
    lz4 -q -b1 -B"$chunk" -i"$tool_secs" "$file" 2>&1 | awk -v OFS='\t' -v d="$data" -v ch="$chunk" -v v="$ver" \
      '$1 ~ /^-[0-9]+$/ { r = $3; gsub(/[()x]/, "", r); print d, ch, "lz4", 1, "lz4 -b (tool, wall clock)", v, $4, $6, r, "lz4 -b1 -B" ch " -i SECS FILE" }' >>"$rows"
  done
  # libdeflate-gzip and igzip: no benchmark mode. User+sys CPU time of five back-to-back
  # whole-file runs (bash's `time` counts milliseconds), output to /dev/null; best of three.
  cpu_secs() { # cmd... -> CPU seconds per run, best of three rounds of five
    local best="" t
    for _ in 1 2 3; do
      t=$( { TIMEFORMAT='%U %S'; time for _ in 1 2 3 4 5; do "$@" >/dev/null 2>&1; done; } 2>&1 | awk '{print ($1 + $2) / 5}')
      best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (a == "" || b < a) ? b : a }')
    done
    echo "$best"
  }
  size=$(stat -c %s "$file")
  ver=$(dpkg-query -W -f='${Version}' libdeflate-tools 2>/dev/null || echo "?")
  for level in 1 6 9; do
    libdeflate-gzip -"$level" -c "$file" >"$work/packed.gz"
    c=$(cpu_secs libdeflate-gzip -"$level" -c "$file")
    d=$(cpu_secs libdeflate-gunzip -c "$work/packed.gz")
    awk -v OFS='\t' -v dt="$data" -v l="$level" -v v="$ver" -v s="$size" -v p="$(stat -c %s "$work/packed.gz")" -v c="$c" -v d="$d" \
      'BEGIN { print dt, "whole file", "gzip", l, "libdeflate-gzip (tool)", v, (c > 0 ? s / c / 1e6 : 0), (d > 0 ? s / d / 1e6 : 0), s / p, "libdeflate-gzip -" l " -c FILE; libdeflate-gunzip -c FILE.gz" }' >>"$rows"
  done
  for level in 0 1 2 3; do
    igzip -"$level" -c "$file" >"$work/packed.gz"
    c=$(cpu_secs igzip -"$level" -c "$file")
    d=$(cpu_secs igzip -d -c "$work/packed.gz")
    awk -v OFS='\t' -v dt="$data" -v l="$level" -v v="$ver_isal" -v s="$size" -v p="$(stat -c %s "$work/packed.gz")" -v c="$c" -v d="$d" \
      'BEGIN { print dt, "whole file", "gzip", "isal-" l, "igzip (tool)", v, (c > 0 ? s / c / 1e6 : 0), (d > 0 ? s / d / 1e6 : 0), s / p, "igzip -" l " -c FILE; igzip -d -c FILE.gz" }' >>"$rows"
  done
done

echo "baselines: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end" >&2

# The table, with the kit's share of the fastest other row of the same algorithm, level
# and chunk size (whole-file rows count for both chunk sizes).
awk -F'\t' -v OFS='\t' '
  { n++; for (i = 1; i <= 10; i++) row[n, i] = $i }
  # A kit row that compresses with ISA-L (gzip level 1 runs ISA-L level 3; the compressor
  # is named first) is also held against ISA-L at that level: its streams are the ones
  # those rows write and inflate.
  function same(a, b) {
    return row[a, 1] == row[b, 1] && row[a, 3] == row[b, 3] &&
      (row[a, 4] == row[b, 4] || (row[a, 5] ~ /^dpukit kernel: ISA-L/ && row[b, 4] == "isal-3")) &&
      (row[a, 2] == row[b, 2] || row[b, 2] == "whole file")
  }
  END {
    printf "%-9s %-10s %-5s %-6s %-40s %-9s %9s %9s %7s  %-19s %s\n", "data", "chunk", "algo", "level",
      "library", "version", "comp MB/s", "dec MB/s", "ratio", "target c/d (>=95%)", "command"
    for (a = 1; a <= n; a++) {
      target = ""
      if (row[a, 5] ~ /^dpukit kernel/) {
        bc = 0; bd = 0
        for (b = 1; b <= n; b++) if (b != a && same(a, b)) {
          if (row[b, 7] > bc) bc = row[b, 7]
          if (row[b, 8] > bd) bd = row[b, 8]
        }
        if (bc > 0) target = sprintf("%d%% / %d%%", 100 * row[a, 7] / bc, 100 * row[a, 8] / bd)
      }
      printf "%-9s %-10s %-5s %-6s %-40s %-9s %9.0f %9.0f %7.3f  %-19s %s\n", row[a, 1], row[a, 2], row[a, 3],
        row[a, 4], row[a, 5], row[a, 6], row[a, 7], row[a, 8], row[a, 9], target, row[a, 10]
    }
  }' "$rows"
