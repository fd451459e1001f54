#!/usr/bin/env bash
# The seed's run_distribute_train_gpu.sh DEVICE_NUM [--key value ...]: DEVICE_NUM GPUs (msrun), ResNet-50/FC128.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; MODEL="$(cd "$HERE/.." && pwd)"; SCRIPTS="$MODEL/../scripts"
CFG="$MODEL/configs/resnet50_fc128.yaml"   # the seed's network: ResNet-50 + FC128 at 224x224
[ $# -ge 1 ] || { echo "usage: bash run_distribute_train_gpu.sh DEVICE_NUM [--key value ...]" >&2; exit 2; }
N="$1"; shift
exec bash "$SCRIPTS/run_distribute_train_gpu.sh" "$MODEL" "$N" --config "$CFG" "$@"
