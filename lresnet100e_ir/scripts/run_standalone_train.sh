#!/usr/bin/env bash
# The seed's scripts/run_standalone_train.sh [DATA_PATH] [--key value ...]: one device (the installed build's),
# DATA_PATH a folder with train.rec (MS1MV2 faces_emore), a .rec file, or identity folders. The zoo's recipe is
# ArcFace; the seed's plain softmax: --config lresnet100e_ir/configs/lresnet100e_ir_softmax.yaml.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; MODEL="$(cd "$HERE/.." && pwd)"; SCRIPTS="$MODEL/../scripts"
data_args() {  # DATA_PATH: a folder with train.rec (insightface), a .rec file, or identity folders
  if [ -f "$1/train.rec" ]; then echo "--train_rec"; echo "$1/train.rec"
  elif [ -f "$1" ] && [ "${1##*.}" = "rec" ]; then echo "--train_rec"; echo "$1"
  else echo "--train_root"; echo "$1"; fi
}
[ $# -ge 1 ] || { echo "usage: bash scripts/run_standalone_train.sh DATA_PATH [--key value ...]" >&2; exit 2; }
mapfile -t D < <(data_args "$1"); shift
exec bash "$SCRIPTS/train_standalone.sh" "$MODEL" "${D[@]}" "$@"
