#!/usr/bin/env bash
# The seed's run_distribute_train_ascend.sh [DEVICE_NUM] [RANK_TABLE_FILE] [IMAGE_PATH] [TEST_IMAGE_PATH] [SAVE_CKPT_DIR]
# = scripts/train_distribute_8p.sh (8) or scripts/train_distribute.sh (2, 4) with the seed's MobileFaceNet recipe;
# the rank table and options are checked before any process starts. Extra --key value options pass through.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; MODEL="$(cd "$HERE/.." && pwd)"; SCRIPTS="$MODEL/../scripts"
CFG="$MODEL/configs/cosface_mobilefacenet_casia.yaml"   # the seed's network: MobileFaceNet, 128-d, 112x112
[ $# -ge 5 ] || { echo "usage: bash run_distribute_train_ascend.sh DEVICE_NUM RANK_TABLE_FILE IMAGE_PATH TEST_IMAGE_PATH SAVE_CKPT_DIR [--key value ...]" >&2; exit 2; }
N="$1" TABLE="$2" IMAGE_PATH="$3" TEST_IMAGE_PATH="$4" SAVE_CKPT_DIR="$5"; shift 5
ARGS=(--config "$CFG" --train_root "$IMAGE_PATH" --verify_data_root "$TEST_IMAGE_PATH" --ckpt_dir "$SAVE_CKPT_DIR" "$@")
if [ "$N" = "8" ]; then exec bash "$SCRIPTS/train_distribute_8p.sh" "$MODEL" "$TABLE" "${ARGS[@]}"; fi
exec bash "$SCRIPTS/train_distribute.sh" "$MODEL" "$TABLE" "$N" "${ARGS[@]}"
