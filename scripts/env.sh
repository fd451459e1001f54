# Sourced by every launcher: repository root, Python interpreter, CPU speed default.
# REPO: the repository root, wherever the caller stands. PY: $PYTHON, else the repo's .venv, else python3.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif [ -x "$REPO/.venv/bin/python" ]; then PY="$REPO/.venv/bin/python"
else PY="$(command -v python3)"; fi
export ONEDNN_MAX_CPU_ISA="${ONEDNN_MAX_CPU_ISA:-AVX2}"   # AVX-512 CPUs: avoid oneDNN's reference conv kernel
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"

# model_dir ARG: absolute path of a model folder given by name (lightcnn) or path
model_dir() {
  if [ -d "$1" ]; then (cd "$1" && pwd)
  elif [ -d "$REPO/$1" ]; then echo "$REPO/$1"
  else echo "error: model folder '$1' not found (expected one of: lightcnn cosface lresnet100e_ir pfe facenet)" >&2; return 1
  fi
}

# is_int ARG: true for a non-negative integer (a DEVICE_ID)
is_int() { case "$1" in ''|*[!0-9]*) return 1;; *) return 0;; esac; }

# ckpt_arg ARG: true when ARG is a positional checkpoint path (not an --option); sets CKPT_FILE to its absolute
# path; a missing file stops the script with one line
ckpt_arg() {
  [ -n "$1" ] && [ "${1#--}" = "$1" ] || return 1
  [ -f "$1" ] || { echo "error: checkpoint not found: $1" >&2; exit 1; }
  CKPT_FILE="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
}
