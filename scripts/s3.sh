#!/usr/bin/env bash
# Runs a command with an S3-compatible server (moto's server mode, pinned in
# tools/moto/requirements.txt) serving on 127.0.0.1 and a free port, then stops it, also
# when the command fails or is interrupted:
#   scripts/s3.sh COMMAND [ARGS...]
# Installs tools/moto/.venv (python3 -m venv + pip install -r requirements.txt) if missing.
# moto keeps objects in memory: every start is an empty service.
# The command sees:
#   DPUKIT_S3_URL   the endpoint, e.g. http://127.0.0.1:41234 (any credentials are accepted)
#   DPUKIT_S3_BIN   the moto_server binary, for tests that start their own server
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/tools/moto"
venv="$tools/.venv"
bin="$venv/bin/moto_server"

if [ ! -x "$bin" ]; then
  echo "s3.sh: installing moto (python3 -m venv tools/moto/.venv; pip install -r requirements.txt)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$tools/requirements.txt" >&2
fi

log="$(mktemp "${TMPDIR:-/tmp}/dpukit-s3.XXXXXX.log")"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

py="$venv/bin/python"
# A free port: bind port 0, read it back, release it.
port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
"$bin" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!

up() { "$py" -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1).close()' "$port" 2>/dev/null; }
# Ready when the port accepts a connection (at most 60 s).
for _ in $(seq 600); do
  if up; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "s3.sh: moto_server exited during start:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
up || { echo "s3.sh: moto_server did not listen on port $port within 60 s" >&2; exit 1; }

export DPUKIT_S3_URL="http://127.0.0.1:$port"
export DPUKIT_S3_BIN="$bin"
echo "s3.sh: moto S3 server on $DPUKIT_S3_URL" >&2
"$@"
