#!/usr/bin/env bash
# npm run bench: Flight DoPut/DoGet throughput of Longbow against a same-run pyarrow anchor.
#
# Ensures the Python venv .cache/venv holds pyarrow and numpy (creating it with
# `python3 -m venv` and pip when needed; pip takes its index/mirror settings from the caller's
# PIP_* environment and pip.conf), then runs the benchmarks under bench/.
#
# Environment: BENCH_REPEAT (timed repetitions per figure, default 5), BENCH_ROWS (default
# 100000), PYTHON (interpreter used to create the venv, default python3).
# Results: stdout and .cache/bench/*.json. See docs/performance.md.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=.cache/venv
PY="$VENV/bin/python"

have_deps() {
  [ -x "$PY" ] && "$PY" -c 'import pyarrow.flight, numpy' >/dev/null 2>&1
}

if ! have_deps; then
  if [ ! -x "$PY" ]; then
    echo "bench: creating $VENV" >&2
    rm -rf "$VENV"
    "${PYTHON:-python3}" -m venv "$VENV"
  fi
  echo "bench: installing pyarrow and numpy into $VENV" >&2
  "$PY" -m pip install --quiet -r bench/requirements.txt
  have_deps || { echo "bench: pyarrow/numpy still not importable from $PY" >&2; exit 1; }
fi

command -v node >/dev/null || { echo "bench: node not found on PATH" >&2; exit 1; }
[ -d node_modules/tsx ] || { echo "bench: node_modules/tsx missing; run npm install first" >&2; exit 1; }

# exec: Ctrl-C / SIGTERM go straight to the bench, which stops both servers.
exec "$PY" bench/flight_throughput.py "$@"
