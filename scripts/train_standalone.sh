#!/usr/bin/env bash
# Train one model on one device, in the background, logging to OUT/train.log.
#   bash scripts/train_standalone.sh MODEL [DEVICE_ID] [--key value ...]
# MODEL: lightcnn | cosface | lresnet100e_ir | pfe | facenet (or a path). Options go to MODEL/train.py
# (--config FILE, --train_root DIR, --device_target Ascend|GPU|CPU, ...). FOREGROUND=1 runs in the foreground.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
[ $# -ge 1 ] || { echo "usage: bash scripts/train_standalone.sh MODEL [DEVICE_ID] [--key value ...]" >&2; exit 2; }
MODEL_DIR="$(model_dir "$1")"; shift
ARGS=()
if [ $# -ge 1 ] && is_int "$1"; then export DEVICE_ID="$1"; ARGS+=(--device_id "$1"); shift; fi
LOG_DIR="${LOG_DIR:-$PWD/train_$(basename "$MODEL_DIR")_standalone}"
mkdir -p "$LOG_DIR"
LOG="$LOG_DIR/train.log"
CMD=("$PY" "$MODEL_DIR/train.py" "${ARGS[@]}" "$@")
if [ "${FOREGROUND:-0}" = "1" ]; then
  "${CMD[@]}" 2>&1 | tee "$LOG"
else
  nohup "${CMD[@]}" > "$LOG" 2>&1 &
  echo "training $(basename "$MODEL_DIR") in the background (pid $!); log: $LOG"
fi
