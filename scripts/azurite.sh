#!/usr/bin/env bash
# Runs a command with Azurite (the Azure Storage emulator, pinned in tools/azurite) serving
# blobs on 127.0.0.1, a free port and a temporary data folder, then stops it, also when
# the command fails or is interrupted:
#   scripts/azurite.sh COMMAND [ARGS...]
# Installs tools/azurite/node_modules with `npm ci` (the committed lock file) if missing.
# The command sees:
#   DPUKIT_AZURITE_URL   the blob endpoint, e.g. http://127.0.0.1:41234
#   DPUKIT_AZURITE_BIN   the azurite-blob binary, for tests that start their own server
#   AZURITE_BLOB_STORAGE_URL  the same endpoint, read by `--blob-emulator` when no
#                        --blob-endpoint is given
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/tools/azurite"
bin="$tools/node_modules/.bin/azurite-blob"

if [ ! -x "$bin" ]; then
  echo "azurite.sh: installing Azurite (npm ci in tools/azurite)" >&2
  (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

data="$(mktemp -d "${TMPDIR:-/tmp}/dpukit-azurite.XXXXXX")"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free port: bind port 0, read it back, release it.
port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});')"
"$bin" --blobHost 127.0.0.1 --blobPort "$port" --location "$data" \
  --silent --skipApiVersionCheck --loose --disableTelemetry >"$data/azurite.log" 2>&1 &
pid=$!

# Ready when the port accepts a connection (at most 60 s).
for _ in $(seq 600); do
  if node -e 'require("net").connect(+process.argv[1],"127.0.0.1").on("connect",()=>process.exit(0)).on("error",()=>process.exit(1))' "$port"; then
    break
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "azurite.sh: Azurite exited during start:" >&2
    cat "$data/azurite.log" >&2
    exit 1
  fi
  sleep 0.1
done
node -e 'require("net").connect(+process.argv[1],"127.0.0.1").on("connect",()=>process.exit(0)).on("error",()=>process.exit(1))' "$port" \
  || { echo "azurite.sh: Azurite did not listen on port $port within 60 s" >&2; exit 1; }

export DPUKIT_AZURITE_URL="http://127.0.0.1:$port"
export DPUKIT_AZURITE_BIN="$bin"
export AZURITE_BLOB_STORAGE_URL="$DPUKIT_AZURITE_URL"
echo "azurite.sh: Azurite on $DPUKIT_AZURITE_URL (data in $data)" >&2
"$@"
