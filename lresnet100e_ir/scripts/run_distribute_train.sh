#!/usr/bin/env bash
# The seed's scripts/run_distribute_train.sh [DATA_PATH] [DEVICE_NUM] [--key value ...]: DEVICE_NUM GPUs of this
# machine (scripts/run_distribute_train_gpu.sh, msrun). DATA_PATH as in run_standalone_train.sh.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; MODEL="$(cd "$HERE/.." && pwd)"; SCRIPTS="$MODEL/../scripts"
data_args() {  # DATA_PATH: a folder with train.rec (insightface), a .rec file, or identity folders
  if [ -f "$1/train.rec" ]; then echo "--train_rec"; echo "$1/train.rec"
  elif [ -f "$1" ] && [ "${1##*.}" = "rec" ]; then echo "--train_rec"; echo "$1"
  else echo "--train_root"; echo "$1"; fi
}
[ $# -ge 2 ] || { echo "usage: bash scripts/run_distribute_train.sh DATA_PATH DEVICE_NUM [--key value ...]" >&2; exit 2; }
mapfile -t D < <(data_args "$1"); N="$2"; shift 2
exec bash "$SCRIPTS/run_distribute_train_gpu.sh" "$MODEL" "$N" "${D[@]}" "$@"
