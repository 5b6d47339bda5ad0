#!/usr/bin/env bash
# npm run bench:search: vector search of Longbow's index (usearch HNSW, exact kernel,
# DatasetIndex) against a same-run faiss anchor (bench/search_bench.py, which drives
# bench/search_index.ts). Ensures the Python venv .cache/venv holds pyarrow, numpy and
# faiss-cpu (bench/requirements.txt; pip takes its index/mirror settings from the caller's
# PIP_* environment and pip.conf), then runs the bench.
#
# Environment: BENCH_SEARCH_ROWS, BENCH_SEARCH_QUERIES, BENCH_SEARCH_M,
# BENCH_SEARCH_EF_CONSTRUCTION, BENCH_SEARCH_EFS, BENCH_SEARCH_REPEAT,
# BENCH_SEARCH_BUILD_THREADS, BENCH_SEARCH_STORAGES, BENCH_SEARCH_BIG=1 (also 1M x 128);
# PYTHON (interpreter used to create the venv, default python3). See docs/performance.md.
# Results: stdout and .cache/bench/search.json.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=.cache/venv
PY="$VENV/bin/python"

have_deps() {
  [ -x "$PY" ] && "$PY" -c 'import pyarrow.flight, numpy, faiss' >/dev/null 2>&1
}

if ! have_deps; then
  if [ ! -x "$PY" ]; then
    echo "bench-search: creating $VENV" >&2
    rm -rf "$VENV"
    "${PYTHON:-python3}" -m venv "$VENV"
  fi
  echo "bench-search: installing bench/requirements.txt into $VENV" >&2
  "$PY" -m pip install --quiet -r bench/requirements.txt
  have_deps || { echo "bench-search: pyarrow/numpy/faiss still not importable from $PY" >&2; exit 1; }
fi

command -v node >/dev/null || { echo "bench-search: node not found on PATH" >&2; exit 1; }
[ -d node_modules/tsx ] || { echo "bench-search: node_modules/tsx missing; run npm install first" >&2; exit 1; }

# The bench runs as a background child that we wait for, so that a SIGTERM or Ctrl-C reaching
# this script is passed on to it (it then stops its Node child) instead of leaving it running.
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

"$PY" bench/search_bench.py "$@" &
child=$!
status=0
wait "$child" || status=$?
exit "$status"
