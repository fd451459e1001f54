#!/usr/bin/env bash
# Create .venv (if absent) and install requirements.txt (+ requirements-test.txt with --test; + the CUDA 11
# libraries of requirements-gpu.txt with --gpu: scripts/setup_gpu.sh).
# Re-runs are instant: a stamp of the requirement files' hash records what is installed.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
BASE_PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$BASE_PY" --version 2>&1)"
  "$BASE_PY" -m venv .venv
fi
TEST=0; GPU=0
for arg in "$@"; do
  case "$arg" in --test) TEST=1;; --gpu) GPU=1;;
    *) echo "usage: bash scripts/setup.sh [--test] [--gpu]" >&2; exit 2;; esac
done
FILES=(requirements.txt)
[ "$TEST" = 1 ] && FILES+=(requirements-test.txt)
STAMP=".venv/.installed-$(cat "${FILES[@]}" | sha1sum | cut -c1-12)"
if [ ! -f "$STAMP" ]; then
  echo "setup: installing ${FILES[*]} into .venv (first time only)"
  ARGS=(); for f in "${FILES[@]}"; do ARGS+=(-r "$f"); done
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "${ARGS[@]}"
  touch "$STAMP"
fi
# The repository itself, editable (pip install -e .): `python -m common.X` and every entry work from any directory,
# and the tools are console commands (faceid-evaluate, faceid-align, ...). Re-done when pyproject.toml changes.
PKG_STAMP=".venv/.installed-pkg-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -f "$PKG_STAMP" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
    --config-settings editable_mode=compat -e "$REPO"
  touch "$PKG_STAMP"
fi
if [ "$TEST" = 1 ] && ! .venv/bin/python -c "import torch" 2>/dev/null; then
  # Optional, for the FaceNet converter test and the PyTorch benchmark: only a locally available
  # CPU wheel (never a multi-GB download); without it those tests skip with their reason.
  TMP_WHEEL="$(mktemp -d)"
  if .venv/bin/python -m pip download --quiet --no-index --no-deps "torch==2.13.0" -d "$TMP_WHEEL" 2>/dev/null; then
    .venv/bin/python -m pip install --quiet "$TMP_WHEEL"/torch-*.whl \
      && echo "setup: installed the local torch 2.13.0 CPU wheel" || echo "setup: torch install failed (optional)"
  else
    echo "setup: no local torch wheel (optional; the tests that need it skip)"
  fi
  rm -rf "$TMP_WHEEL"
fi
if [ "$TEST" = 1 ] && .venv/bin/python -c "import torch" 2>/dev/null \
    && ! .venv/bin/python -c "import importlib.util as u, sys; sys.exit(u.find_spec('facenet_pytorch') is None)" 2>/dev/null; then
  # Optional, the independent MTCNN reference of tests/test_align_mtcnn.py: facenet-pytorch WITHOUT its pinned
  # dependencies (they would replace torch/numpy); tests/align_reference.py covers the missing torchvision/requests.
  .venv/bin/python -m pip install --quiet --no-deps "facenet-pytorch==2.6.0" \
    && echo "setup: installed facenet-pytorch 2.6.0 (--no-deps, test reference)" \
    || echo "setup: facenet-pytorch not installed (optional; the MTCNN reference tests skip)"
fi
if [ "$TEST" = 1 ] && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  # tests/evaluation/test_report.py renders the eval report in a real headless browser: Debian's chromium
  # (as root, or with password-less sudo; quiet and non-interactive). Without it that test skips (fails with CI set).
  SUDO=""; [ "$(id -u)" != 0 ] && SUDO="sudo -n"
  if ! command -v apt-get >/dev/null 2>&1 || { [ -n "$SUDO" ] && ! sudo -n true 2>/dev/null; }; then
    echo "setup: chromium not installed (needs apt-get as root); the headless report test skips"
  elif $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
      || { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 \
           && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; }; then
    echo "setup: installed chromium (headless browser of the report test)"
  else
    echo "setup: chromium could not be installed with apt-get; the headless report test skips"
  fi
fi
# --gpu: the CUDA 11 libraries the MindSpore wheel's GPU plugin needs (requirements-gpu.txt), CUDA_HOME
# .venv/cuda11, then the check (python -m common.doctor --require GPU); see scripts/setup_gpu.sh
if [ "$GPU" = 1 ]; then bash "$REPO/scripts/setup_gpu.sh"; fi
