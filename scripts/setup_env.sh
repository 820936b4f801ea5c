# Sourced by demo.sh and test.sh: creates .venv if missing, installs torch (pinned) unless one is
# there, then this package with the extras given as arguments. Torch is installed first and pinned
# so that the `torch>=2.10` requirement never pulls a newer build with gigabytes of CUDA packages.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON_BIN="${PYTHON_BIN:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON_BIN" -m venv .venv
fi
PY=.venv/bin/python
PIP="$PY -m pip --disable-pip-version-check --quiet"
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
    echo "Installing torch==2.13.0 (CPU) ..."
    $PIP install "torch==2.13.0"
fi
extras="${1:-}"
target="."
[ -n "$extras" ] && target=".[$extras]"
$PIP install -e "$target"
