#!/usr/bin/env bash
# The GPU part of `bash scripts/setup.sh --gpu`: what the MindSpore 2.10 wheel's GPU plugin needs, from PyPI.
#  1. the wheels of requirements-gpu.txt (CUDA 11.8 runtime, cuBLAS, cuFFT, cuRAND, cuSOLVER, cuSPARSE, NVRTC,
#     cuDNN 8.9) into the venv -- skipped when those exact versions are installed already (no network needed);
#  2. VENV/cuda11: lib64/ links to their libraries, bin/nvcc a stand-in reporting their CUDA version (MindSpore
#     picks its plugin from `$CUDA_HOME/bin/nvcc --version`); scripts/env.sh then exports CUDA_HOME and
#     LD_LIBRARY_PATH (a real CUDA 11 toolkit in CUDA_HOME is kept);
#  3. the check: python -m common.doctor --require GPU (its exit status is this script's).
# DRY_RUN=1 prints the pip command instead of running it (nothing downloaded or installed) and still checks.
# VENV (default REPO/.venv) names the virtual environment.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$REPO/.venv}"
PY="$VENV/bin/python"
[ -x "$PY" ] || { echo "error: $PY not found (run bash scripts/setup.sh first)" >&2; exit 1; }
REQ="$REPO/requirements-gpu.txt"
# the pins not installed at exactly their version
MISSING="$("$PY" - "$REQ" <<'PYEOF'
import sys
from importlib.metadata import PackageNotFoundError, version
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, want = line.split("==")
    try:
        have = version(name)
    except PackageNotFoundError:
        have = None
    if have != want:
        print(line)
PYEOF
)"
if [ -z "$MISSING" ]; then
  echo "setup --gpu: the CUDA 11 wheels of requirements-gpu.txt are installed (nothing to download)"
else
  CMD=("$PY" -m pip install --quiet --disable-pip-version-check $MISSING)
  if [ "${DRY_RUN:-0}" = "1" ]; then
    echo "setup --gpu: DRY_RUN: would run: ${CMD[*]}"
  else
    echo "setup --gpu: installing $(echo $MISSING | wc -w) wheel(s) of requirements-gpu.txt (about 1.5 GB, once)"
    "${CMD[@]}" || { echo "error: pip could not install the CUDA 11 wheels (no access to PyPI?); they are listed in $REQ" >&2; exit 1; }
  fi
fi
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [ "${DRY_RUN:-0}" = "1" ] && [ -n "$MISSING" ]; then
  echo "setup --gpu: DRY_RUN: would make $VENV/cuda11 (lib64/ + bin/nvcc) from $SITE/nvidia"
else
  (cd "$REPO" && "$PY" -m common.doctor --make_cuda_home "$VENV/cuda11" --site "$SITE")
fi
# the check, in the environment scripts/env.sh gives every launcher
VENV_PY="$PY"
PYTHON="$VENV_PY" source "$REPO/scripts/env.sh"
echo "setup --gpu: check (python -m common.doctor --require GPU; CUDA_HOME=${CUDA_HOME:-unset}):"
cd "$REPO" && exec "$VENV_PY" -m common.doctor --require GPU
