# Sourced by every launcher: repository root, Python interpreter, CPU speed default.
# REPO: the repository root, wherever the caller stands. PY: $PYTHON, else the repo's .venv, else python3.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif [ -x "$REPO/.venv/bin/python" ]; then PY="$REPO/.venv/bin/python"
else PY="$(command -v python3)"; fi
export ONEDNN_MAX_CPU_ISA="${ONEDNN_MAX_CPU_ISA:-AVX2}"   # AVX-512 CPUs: avoid oneDNN's reference conv kernel
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
# GPU: the CUDA 11 set-up of `scripts/setup.sh --gpu` (VENV/cuda11, beside PY's bin/) becomes CUDA_HOME unless
# CUDA_HOME already holds a CUDA 11 toolkit (the MindSpore 2.10 wheel's GPU plugins are CUDA 11; a CUDA 12 one is
# passed over); a CUDA 11 CUDA_HOME's lib64 goes first on LD_LIBRARY_PATH. `python -m common.doctor` says the rest.
_cuda11="$(dirname "$(dirname "$PY")")/cuda11"
_is_cuda11() { [ -x "$1/bin/nvcc" ] && "$1/bin/nvcc" --version 2>/dev/null | grep -q "release 11\."; }
if [ -x "$_cuda11/bin/nvcc" ] && ! { [ -n "${CUDA_HOME:-}" ] && _is_cuda11 "$CUDA_HOME"; }; then
  export CUDA_HOME="$_cuda11"
fi
if [ -n "${CUDA_HOME:-}" ] && [ -d "$CUDA_HOME/lib64" ] && _is_cuda11 "$CUDA_HOME"; then
  case ":${LD_LIBRARY_PATH:-}:" in *":$CUDA_HOME/lib64:"*) ;;
    *) export LD_LIBRARY_PATH="$CUDA_HOME/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}";; esac
fi
unset _cuda11

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

# check_launch COMMAND MODEL_DIR [--key value ...]: the foreground check of a launch (python -m
# common.tools.launch_check: options, paths, training data, device; DEVICE_ID on a CPU-only build is said to run on the
# CPU). Stops the script with the check's one-line error. SKIP_CHECK=1 skips it.
check_launch() {
  [ "${SKIP_CHECK:-0}" = "1" ] && return 0
  local rc=0
  LAUNCH_DEVICE_ID="${LAUNCH_DEVICE_ID:-}" "$PY" -m common.launch_check "$@" || rc=$?
  [ $rc -eq 0 ] || exit $rc
}

# last_error LOG: the last 'error: ...' line of a log (without the prefix), else its last line
last_error() {
  local line; line="$(grep '^error: ' "$1" 2>/dev/null | tail -n 1 | cut -c8-)"
  [ -n "$line" ] || line="$(grep -v '^\s*$' "$1" 2>/dev/null | tail -n 1)"
  echo "${line:-no output}"
}

# watch_start WHAT LOG PID...: a background run that stops within START_WAIT seconds (default 8) is reported here
# with its log's last error line and a non-zero status (the others of the same launch are then stopped); a run
# that ends cleanly in that time is reported as finished. LOG may be a glob of several logs.
watch_start() {
  local what="$1" log="$2"; shift 2
  local pids=("$@") limit="${START_WAIT:-8}" t=0 i alive rc q f first
  local done_=()
  while :; do
    alive=0
    for i in "${!pids[@]}"; do
      [ -z "${done_[$i]:-}" ] || continue
      if kill -0 "${pids[$i]}" 2>/dev/null; then alive=$((alive + 1)); continue; fi
      rc=0; wait "${pids[$i]}" 2>/dev/null || rc=$?
      done_[$i]=1
      [ $rc -ne 0 ] || continue
      for q in "${pids[@]}"; do kill "$q" 2>/dev/null || true; done
      first=""
      for f in $log; do [ -z "$first" ] && [ -f "$f" ] && grep -q '^error: ' "$f" && first="$f"; done
      for f in $log; do [ -z "$first" ] && [ -f "$f" ] && first="$f"; done
      echo "error: $what stopped after $((t / 2)) s (exit $rc): $(last_error "${first:-/dev/null}")" \
           "(log: ${first:-$log})" >&2
      return 1
    done
    [ $alive -gt 0 ] || { echo "$what finished (exit 0; log: $log)"; return 0; }
    [ "$t" -lt "$((limit * 2))" ] || return 0
    sleep 0.5; t=$((t + 1))
  done
}
