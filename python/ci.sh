#!/usr/bin/env bash
# CI for the Python package: a fresh venv, pinned tools, the extension built
# into it (maturin develop), then pytest. Called by .ci/run.
#
# The extension is built with the `dev` profile by default: the workspace
# already optimises the crates a control step spends its time in (and every
# dependency) in dev builds, and `cargo test --workspace` has just built
# them, so this adds the pyo3 glue and one link instead of a second,
# release, build of the whole tree. PROFILE=release for timing work.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if ! command -v "$PY" >/dev/null 2>&1; then
    echo "python/ci.sh: no Python interpreter ($PY); install Python >= 3.9 or set PYTHON=" >&2
    exit 1
fi
if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "python/ci.sh: $PY has no venv/ensurepip module (Debian/Ubuntu: apt-get install python3-venv)" >&2
    exit 1
fi
VENV=${VENV:-../.venv}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    maturin==1.8.3 numpy==2.2.4 pyarrow==19.0.1 pandas==2.2.3 pytest==8.3.5 \
    optuna==4.2.1 matplotlib==3.10.1
export VIRTUAL_ENV
VIRTUAL_ENV=$(cd "$VENV" && pwd)
export PATH="$VIRTUAL_ENV/bin:$PATH" PYO3_PYTHON="$VIRTUAL_ENV/bin/python"
echo "== clippy (the python feature)"
cargo clippy -p recede-python --features python -- -D warnings
echo "== maturin develop --profile ${PROFILE:-dev}"
maturin develop --profile "${PROFILE:-dev}"
echo "== pytest python/tests"
python -m pytest -q tests
