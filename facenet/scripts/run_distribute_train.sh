#!/usr/bin/env bash
# The seed's Ascend run_distribute_train.sh [DATASET_PATH] [RANK_TABLE_FILE] [--key value ...]: 8 devices
# (scripts/train_distribute_8p.sh), ResNet-50/FC128 recipe.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; MODEL="$(cd "$HERE/.." && pwd)"; SCRIPTS="$MODEL/../scripts"
CFG="$MODEL/configs/resnet50_fc128.yaml"   # the seed's network: ResNet-50 + FC128 at 224x224
[ $# -ge 2 ] || { echo "usage: bash run_distribute_train.sh DATASET_PATH RANK_TABLE_FILE [--key value ...]" >&2; exit 2; }
DATA="$1" TABLE="$2"; shift 2
exec bash "$SCRIPTS/train_distribute_8p.sh" "$MODEL" "$TABLE" --config "$CFG" --train_root "$DATA" "$@"
