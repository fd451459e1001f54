#!/usr/bin/env bash
# The seed's Ascend run_standalone_train.sh [DATASET_PATH] [DEVICE_ID] [--key value ...] (ResNet-50/FC128 recipe).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; MODEL="$(cd "$HERE/.." && pwd)"; SCRIPTS="$MODEL/../scripts"
CFG="$MODEL/configs/resnet50_fc128.yaml"   # the seed's network: ResNet-50 + FC128 at 224x224
[ $# -ge 1 ] || { echo "usage: bash run_standalone_train.sh DATASET_PATH [DEVICE_ID] [--key value ...]" >&2; exit 2; }
DATA="$1"; shift
ID=(); case "${1:-}" in ""|*[!0-9]*) ;; *) ID=("$1"); shift;; esac
exec bash "$SCRIPTS/train_standalone.sh" "$MODEL" "${ID[@]+"${ID[@]}"}" --config "$CFG" --train_root "$DATA" "$@"
