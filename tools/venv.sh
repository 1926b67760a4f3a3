#!/usr/bin/env bash
# Shared by tools/test.sh and egs/*/run.sh: make sure ./.venv exists with torch and this package.
# Usage: source tools/venv.sh; ensure_venv [EXTRAS]   (run from the repository root)
# torch is installed first and pinned (TORCH_SPEC, default torch==2.13.0, a CPU wheel): without
# the pin pip resolves a multi-GB CUDA build. On a GPU machine set TORCH_SPEC to your CUDA build.

ensure_venv() {
    local extras=${1:-test}
    local python=${PYTHON:-python3}
    local stamp=.venv/.simvq-installed-$extras
    if [ ! -x .venv/bin/python ]; then
        echo "[venv] creating .venv with $($python --version 2>&1)"
        "$python" -m venv .venv || { echo "[venv] error: '$python -m venv' failed (install python3-venv)" >&2; return 1; }
        .venv/bin/python -m pip install -q --upgrade pip
    fi
    if ! .venv/bin/python -c "import torch" 2>/dev/null; then
        echo "[venv] installing ${TORCH_SPEC:-torch==2.13.0}"
        .venv/bin/python -m pip install -q "${TORCH_SPEC:-torch==2.13.0}"
    fi
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        echo "[venv] installing simvq-audio[$extras] (editable)"
        .venv/bin/python -m pip install -q -e ".[$extras]"
        touch "$stamp"
    fi
}
