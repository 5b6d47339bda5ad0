#!/usr/bin/env bash
# npm run bench: Flight DoPut/DoGet throughput of Longbow against a same-run pyarrow anchor
# (bench/flight_throughput.py), then the durability costs (bench/durability.py: WAL cost on
# DoPut, small-put group commit, snapshot and restart times).
#
# Ensures the Python venv .cache/venv holds pyarrow and numpy (creating it with
# `python3 -m venv` and pip when needed; pip takes its index/mirror settings from the caller's
# PIP_* environment and pip.conf), then runs the benchmarks under bench/.
#
# Environment: BENCH_ONLY (flight or durability: run just that one; default both; client: the
# TypeScript client against pyarrow's, bench/client_throughput.py; search: vector search against
# faiss, bench/search_bench.py, which reads BENCH_SEARCH_*; both run only when asked for),
# BENCH_REPEAT (timed repetitions per figure, default 5), BENCH_ROWS (default 100000),
# PYTHON (interpreter used to create the venv, default python3); bench/durability.py reads
# more (BENCH_SMALL_SECONDS, BENCH_BIG_ROWS, ...; see its docstring).
# Results: stdout and .cache/bench/*.json. See docs/performance.md.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=.cache/venv
PY="$VENV/bin/python"

# The search bench also needs faiss (its anchor).
MODULES="pyarrow.flight, numpy"
[ "${BENCH_ONLY:-}" = search ] && MODULES="$MODULES, faiss"

have_deps() {
  [ -x "$PY" ] && "$PY" -c "import $MODULES" >/dev/null 2>&1
}

if ! have_deps; then
  if [ ! -x "$PY" ]; then
    echo "bench: creating $VENV" >&2
    rm -rf "$VENV"
    "${PYTHON:-python3}" -m venv "$VENV"
  fi
  echo "bench: installing bench/requirements.txt into $VENV" >&2
  "$PY" -m pip install --quiet -r bench/requirements.txt
  have_deps || { echo "bench: $MODULES still not importable from $PY" >&2; exit 1; }
fi

command -v node >/dev/null || { echo "bench: node not found on PATH" >&2; exit 1; }
[ -d node_modules/tsx ] || { echo "bench: node_modules/tsx missing; run npm install first" >&2; exit 1; }

case "${BENCH_ONLY:-}" in
  flight) BENCHES=(bench/flight_throughput.py) ;;
  durability) BENCHES=(bench/durability.py) ;;
  client) BENCHES=(bench/client_throughput.py) ;;
  search) BENCHES=(bench/search_bench.py) ;;
  ""|all) BENCHES=(bench/flight_throughput.py bench/durability.py) ;;
  *) echo "bench: BENCH_ONLY must be flight, durability, client or search (or unset for flight and durability), not '$BENCH_ONLY'" >&2; exit 2 ;;
esac

# Each bench runs as a background child that we wait for, so that a SIGTERM or Ctrl-C reaching
# this script is passed on to it (it then stops its servers) instead of leaving it running.
child=
forward() {
  if [ -n "$child" ]; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  exit "$1"
}
trap 'forward 143' TERM
trap 'forward 130' INT
trap 'forward 129' HUP

for bench in "${BENCHES[@]}"; do
  "$PY" "$bench" "$@" &
  child=$!
  status=0
  wait "$child" || status=$?
  child=
  [ "$status" -eq 0 ] || { echo "bench: $bench failed with status $status" >&2; exit "$status"; }
done
