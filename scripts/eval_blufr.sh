#!/usr/bin/env bash
# BLUFR (LFW) evaluation of a model checkpoint (foreground; writes JSON + ROC PNG).
#   bash scripts/eval_blufr.sh MODEL [DEVICE_ID] [CKPT] --data_root LFW_DIR [--blufr_config F.mat] [--out result.json]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
[ $# -ge 1 ] || { echo "usage: bash scripts/eval_blufr.sh MODEL [DEVICE_ID] [CKPT] --data_root DIR [--key value ...]" >&2; exit 2; }
MODEL_DIR="$(model_dir "$1")"; shift
ARGS=()
# the seed form DEVICE_ID CKPT_FILE, or CKPT first: a number that is not a file is the DEVICE_ID
if [ $# -ge 1 ] && is_int "$1" && [ ! -f "$1" ]; then ARGS+=(--device_id "$1"); shift; fi
if ckpt_arg "${1:-}"; then ARGS+=(--ckpt_file "$CKPT_FILE"); shift; fi
[ -f "$MODEL_DIR/eval_blufr.py" ] || { echo "error: $(basename "$MODEL_DIR") has no eval_blufr.py" >&2; exit 1; }
exec "$PY" "$MODEL_DIR/eval_blufr.py" "${ARGS[@]}" "$@"
