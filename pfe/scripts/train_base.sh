#!/usr/bin/env bash
# Train the PFE base model (SphereNet + CosFace) on one device, in the background, logging to OUT/train.log.
#   bash pfe/scripts/train_base.sh [DEVICE_ID] [--key value ...]     (options go to pfe/train_base.py)
# FOREGROUND=1 runs in the foreground. Works from any directory.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/env.sh"
ARGS=()
if [ $# -ge 1 ] && is_int "$1"; then export DEVICE_ID="$1"; ARGS+=(--device_id "$1"); shift; fi
LOG_DIR="${LOG_DIR:-$PWD/train_pfe_base_standalone}"
mkdir -p "$LOG_DIR"
CMD=("$PY" "$REPO/pfe/train_base.py" "${ARGS[@]}" "$@")
if [ "${FOREGROUND:-0}" = "1" ]; then
  "${CMD[@]}" 2>&1 | tee "$LOG_DIR/train.log"
else
  nohup "${CMD[@]}" > "$LOG_DIR/train.log" 2>&1 &
  echo "training the PFE base model in the background (pid $!); log: $LOG_DIR/train.log"
fi
