#!/usr/bin/env bash
# Run the test suite: creates .venv when missing (torch first, then the package with its test
# extras), lints with ruff (configured in pyproject.toml; lint errors fail the script before any
# test runs), then runs pytest. Extra arguments go to pytest, e.g. `bash tools/test.sh -m "not slow"`
# or `bash tools/test.sh tests/quantize`.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/venv.sh
ensure_venv test
if ! .venv/bin/python -m ruff check --quiet .; then
    echo "[lint] error: ruff check found the problems above; fix them before the tests run" \
         "(.venv/bin/ruff check --fix . sorts imports and removes unused ones)" >&2
    exit 1
fi
exec .venv/bin/python -m pytest -q -ra "$@"
