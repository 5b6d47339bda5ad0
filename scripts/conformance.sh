#!/usr/bin/env bash
# Conformance suite: drives a real Longbow server with pyarrow.flight (test/conformance/).
# Creates the Python venv .cache/venv when missing and installs pyarrow, numpy and pytest into it
# when they are not importable (pip honours the caller's PIP_* settings and pip.conf: offline
# wheels on these machines, PyPI elsewhere). Extra arguments go to pytest, e.g.
#   npm run test:conformance -- -k filters -x
# Exits with pytest's status: non-zero when a test fails.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=.cache/venv
python_bin="$venv/bin/python"
base_python="${PYTHON:-python3}"

if ! [ -x "$python_bin" ] || ! "$python_bin" -c '' >/dev/null 2>&1; then
  echo "conformance: creating $venv with $("$base_python" --version 2>&1)" >&2
  mkdir -p .cache
  "$base_python" -m venv --clear "$venv"
fi

if ! "$python_bin" -c 'import pyarrow.flight, numpy, pytest' >/dev/null 2>&1; then
  echo "conformance: installing pyarrow numpy pytest into $venv" >&2
  "$python_bin" -m pip install --quiet pyarrow numpy pytest
  "$python_bin" -c 'import pyarrow.flight, numpy, pytest'
fi

# No byte-code or pytest cache files in the work tree.
export PYTHONDONTWRITEBYTECODE=1
exec "$python_bin" -m pytest test/conformance -q -p no:cacheprovider "$@"
