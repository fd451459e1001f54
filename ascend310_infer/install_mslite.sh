#!/usr/bin/env bash
# Installs the MindSpore Lite C++ headers and libraries for ascend310_infer/ into
# ascend310_infer/third_party/mindspore_lite (idempotent; prints what it did).
#
# Source: the PyPI wheel mindspore-lite==2.0.0 (the only release on PyPI; tagged cp37, but its
# include/ and lib/ are plain C++ and work with any compiler). It is fetched with pip download and
# unpacked with Python's zipfile; nothing is installed into any Python environment.
# An existing MindSpore Lite package (e.g. the Ascend build) can be used instead: MSLITE_HOME=DIR.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/ascend310_infer/third_party"
HOME_DIR="$DEST/mindspore_lite"
VERSION="2.0.0"
MARKER="$HOME_DIR/.faceid_installed"

if [[ -n "${MSLITE_HOME:-}" ]]; then
  if [[ ! -f "$MSLITE_HOME/include/api/model.h" ]]; then
    echo "error: MSLITE_HOME=$MSLITE_HOME: include/api/model.h not found" >&2
    exit 1
  fi
  echo "install_mslite: using MSLITE_HOME=$MSLITE_HOME (nothing downloaded)"
  exit 0
fi
if [[ -f "$MARKER" && "$(cat "$MARKER")" == "mindspore-lite==$VERSION" ]]; then
  echo "install_mslite: mindspore-lite==$VERSION already in $HOME_DIR (nothing to do)"
  exit 0
fi

PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" ]]; then PY="$ROOT/.venv/bin/python"; else PY="python3"; fi
fi
ARCH="$(uname -m)"
WHEELS="$DEST/wheels"
mkdir -p "$WHEELS"
echo "install_mslite: pip download mindspore-lite==$VERSION (cp37, manylinux1_$ARCH) into $WHEELS"
"$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.7 \
  --platform "manylinux1_$ARCH" --platform "manylinux2014_$ARCH" \
  "mindspore-lite==$VERSION" -d "$WHEELS" --quiet
WHEEL="$(ls "$WHEELS"/mindspore_lite-"$VERSION"-*.whl | head -n 1)"

echo "install_mslite: unpacking include/ and lib/ of $(basename "$WHEEL") into $HOME_DIR"
rm -rf "$HOME_DIR"
"$PY" - "$WHEEL" "$HOME_DIR" <<'PYEOF'
import os, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
n = 0
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        if not name.startswith(("mindspore_lite/include/", "mindspore_lite/lib/")) or name.endswith("/"):
            continue
        if "cpython" in name:  # the Python 3.7 binding is not needed by C++
            continue
        target = os.path.join(dest, name[len("mindspore_lite/"):])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(info) as src, open(target, "wb") as out:
            out.write(src.read())
        n += 1
print(f"install_mslite: {n} files written")
PYEOF
rm -f "$WHEEL"
echo "mindspore-lite==$VERSION" > "$MARKER"
echo "install_mslite: done; headers in $HOME_DIR/include, libraries in $HOME_DIR/lib"
