#!/usr/bin/env bash
# Makes sure .cache/venv holds pyarrow, numpy and pytest: creates the venv when missing and pip
# installs them when they are not importable (pip honours the caller's PIP_* settings and
# pip.conf: offline wheels on these machines, PyPI elsewhere). Used by `npm test` before the node
# tests (the Python example runs in them) and by scripts/conformance.sh.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=.cache/venv
python_bin="$venv/bin/python"
base_python="${PYTHON:-python3}"

if ! [ -x "$python_bin" ] || ! "$python_bin" -c '' >/dev/null 2>&1; then
  echo "python-venv: creating $venv with $("$base_python" --version 2>&1)" >&2
  mkdir -p .cache
  "$base_python" -m venv --clear "$venv"
fi

if ! "$python_bin" -c 'import pyarrow.flight, numpy, pytest' >/dev/null 2>&1; then
  echo "python-venv: installing pyarrow numpy pytest into $venv" >&2
  "$python_bin" -m pip install --quiet pyarrow numpy pytest
  "$python_bin" -c 'import pyarrow.flight, numpy, pytest'
fi
