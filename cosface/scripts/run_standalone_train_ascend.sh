#!/usr/bin/env bash
# The seed's run_standalone_train_ascend.sh [DEVICE_ID] [IMAGE_PATH] [TEST_IMAGE_PATH] [SAVE_CKPT_DIR] [--key value ...]
# = scripts/train_standalone.sh cosface DEVICE_ID --config cosface_mobilefacenet_casia.yaml --train_root IMAGE_PATH
#   --verify_data_root TEST_IMAGE_PATH (LFW_112: pairs.txt beside lfw_align_112/) --ckpt_dir SAVE_CKPT_DIR.
# The device is the installed MindSpore build's (Ascend build: Ascend); log ./train_cosface_standalone/train.log.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; MODEL="$(cd "$HERE/.." && pwd)"; SCRIPTS="$MODEL/../scripts"
CFG="$MODEL/configs/cosface_mobilefacenet_casia.yaml"   # the seed's network: MobileFaceNet, 128-d, 112x112
[ $# -ge 4 ] || { echo "usage: bash run_standalone_train_ascend.sh DEVICE_ID IMAGE_PATH TEST_IMAGE_PATH SAVE_CKPT_DIR [--key value ...]" >&2; exit 2; }
DEVICE_ID="$1" IMAGE_PATH="$2" TEST_IMAGE_PATH="$3" SAVE_CKPT_DIR="$4"; shift 4
case "$DEVICE_ID" in ""|*[!0-9]*) echo "error: DEVICE_ID must be a number, got '$DEVICE_ID'" >&2; exit 2;; esac
exec bash "$SCRIPTS/train_standalone.sh" "$MODEL" "$DEVICE_ID" --config "$CFG" --train_root "$IMAGE_PATH" \
  --verify_data_root "$TEST_IMAGE_PATH" --ckpt_dir "$SAVE_CKPT_DIR" "$@"
