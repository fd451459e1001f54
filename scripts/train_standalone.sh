#!/usr/bin/env bash
# Train one model on one device, in the background, logging to LOG_DIR/train.log.
#   bash scripts/train_standalone.sh MODEL [DEVICE_ID] [--key value ...]
# MODEL: lightcnn | cosface | lresnet100e_ir | pfe | facenet (or a path). Options go to MODEL/train.py
# (--config FILE, --train_root DIR, --device_target Ascend|GPU|CPU, ...). The options, paths, training data and
# device are checked in the foreground first (python -m common.launch_check; a DEVICE_ID on a CPU-only build is
# said to run on the CPU); a run that stops within START_WAIT s (8) is reported here with its error line.
# FOREGROUND=1 runs in the foreground; CHECK_ONLY=1 checks and prints the command without running it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
[ $# -ge 1 ] || { echo "usage: bash scripts/train_standalone.sh MODEL [DEVICE_ID] [--key value ...]" >&2; exit 2; }
MODEL_DIR="$(model_dir "$1")"; shift
ARGS=()
if [ $# -ge 1 ] && is_int "$1"; then export DEVICE_ID="$1" LAUNCH_DEVICE_ID="$1"; ARGS+=(--device_id "$1"); shift; fi
check_launch train "$MODEL_DIR" "${ARGS[@]+"${ARGS[@]}"}" "$@"
LOG_DIR="${LOG_DIR:-$PWD/train_$(basename "$MODEL_DIR")_standalone}"
CMD=("$PY" "$MODEL_DIR/train.py" "${ARGS[@]+"${ARGS[@]}"}" "$@")
if [ "${CHECK_ONLY:-0}" = "1" ]; then printf '%q ' "${CMD[@]}"; echo; exit 0; fi
mkdir -p "$LOG_DIR"
LOG="$LOG_DIR/train.log"
if [ "${FOREGROUND:-0}" = "1" ]; then
  set +e; "${CMD[@]}" 2>&1 | tee "$LOG"; rc=${PIPESTATUS[0]}; set -e
  exit "$rc"
fi
nohup "${CMD[@]}" > "$LOG" 2>&1 &
PID=$!
watch_start "training $(basename "$MODEL_DIR")" "$LOG" "$PID" || exit 1
kill -0 "$PID" 2>/dev/null && echo "training $(basename "$MODEL_DIR") in the background (pid $PID); log: $LOG" || true
