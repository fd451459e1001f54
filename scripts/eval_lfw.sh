#!/usr/bin/env bash
# LFW View 2 evaluation of a model checkpoint (foreground; writes JSON + ROC PNG).
#   bash scripts/eval_lfw.sh MODEL [DEVICE_ID] [CKPT] --data_root LFW_DIR [--pairs pairs.txt] [--out result.json] [--key value ...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
[ $# -ge 1 ] || { echo "usage: bash scripts/eval_lfw.sh MODEL [DEVICE_ID] [CKPT] --data_root DIR [--key value ...]" >&2; exit 2; }
MODEL_DIR="$(model_dir "$1")"; shift
ARGS=()
# the seed form DEVICE_ID CKPT_FILE, or CKPT first: a number that is not a file is the DEVICE_ID
if [ $# -ge 1 ] && is_int "$1" && [ ! -f "$1" ]; then ARGS+=(--device_id "$1"); shift; fi
if ckpt_arg "${1:-}"; then ARGS+=(--ckpt_file "$CKPT_FILE"); shift; fi
SCRIPT="$MODEL_DIR/eval_lfw.py"; [ -f "$SCRIPT" ] || SCRIPT="$MODEL_DIR/eval.py"
exec "$PY" "$SCRIPT" "${ARGS[@]}" "$@"
