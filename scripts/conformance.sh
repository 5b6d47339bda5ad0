#!/usr/bin/env bash
# Conformance suite: drives a real Longbow server with pyarrow.flight (test/conformance/).
# The Python venv .cache/venv is made ready by scripts/python-venv.sh. Extra arguments go to
# pytest, e.g.
#   npm run test:conformance -- -k filters -x
# Exits with pytest's status: non-zero when a test fails.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/python-venv.sh
python_bin=.cache/venv/bin/python

# No byte-code or pytest cache files in the work tree.
export PYTHONDONTWRITEBYTECODE=1
exec "$python_bin" -m pytest test/conformance -q -p no:cacheprovider "$@"
