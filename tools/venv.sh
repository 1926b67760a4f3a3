#!/usr/bin/env bash
# Shared by tools/test.sh and egs/*/run.sh: make sure ./.venv exists with torch and this package.
# Usage: source tools/venv.sh; ensure_venv [EXTRAS]   (run from the repository root)
# torch is installed first and pinned (TORCH_SPEC, default torch==2.13.0, a CPU wheel): without
# the pin pip resolves a multi-GB CUDA build. On a GPU machine set TORCH_SPEC to your CUDA build.

# create_venv: ./.venv with pip (PYTHON, default python3). Debian/Ubuntu without the
# python3-venv package have no ensurepip: the venv is then made without pip and pip is fetched
# from the package index by tools/bootstrap_pip.py, so no root is needed.
create_venv() {
    local python=${PYTHON:-python3}
    echo "[venv] creating .venv with $($python --version 2>&1)"
    rm -rf .venv
    if ! "$python" -m venv .venv >/dev/null 2>&1; then
        rm -rf .venv
        "$python" -m venv --without-pip .venv && .venv/bin/python tools/bootstrap_pip.py \
            || { echo "[venv] error: could not create .venv with '$python -m venv'" >&2; return 1; }
    fi
}

ensure_venv() {
    local extras=${1:-test}
    local stamp=.venv/.simvq-installed-$extras
    if [ ! -x .venv/bin/python ] || ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
        create_venv || return 1
        .venv/bin/python -m pip install -q --upgrade pip
    fi
    if ! .venv/bin/python -c "import torch" 2>/dev/null; then
        echo "[venv] installing ${TORCH_SPEC:-torch==2.13.0}"
        .venv/bin/python -m pip install -q "${TORCH_SPEC:-torch==2.13.0}"
    fi
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        echo "[venv] installing simvq-audio[$extras] (editable)"
        .venv/bin/python -m pip install -q -e ".[$extras]" || return 1
        if [[ ,$extras, == *,eval,* || ,$extras, == *,test,* ]]; then
            # the speaker encoder's weights (see the eval extra in pyproject.toml)
            .venv/bin/python -m pip install -q --no-deps "resemblyzer==0.1.4" || return 1
        fi
        touch "$stamp"
    fi
}
