#!/usr/bin/env bash
# Run the test suite: creates .venv when missing (torch first, then the package with its test
# extras), then runs pytest. Extra arguments go to pytest, e.g. `bash tools/test.sh -m "not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/venv.sh
ensure_venv test
exec .venv/bin/python -m pytest -q -ra "$@"
