#!/usr/bin/env bash
# The seed's run_eval_ascend.sh [DEVICE_ID] [TEST_IMAGE_PATH] [CKPT_FILE] [--key value ...]: LFW 6,000 pairs with the
# seed's MobileFaceNet recipe; TEST_IMAGE_PATH may be the seed's LFW_112 (pairs.txt beside lfw_align_112/).
# Prints 'Test result, AVE: ...' beside the table; JSON + ROC PNG under runs/.../eval/. Also in ./eval.log.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; MODEL="$(cd "$HERE/.." && pwd)"; SCRIPTS="$MODEL/../scripts"
CFG="$MODEL/configs/cosface_mobilefacenet_casia.yaml"   # the seed's network: MobileFaceNet, 128-d, 112x112
[ $# -ge 3 ] || { echo "usage: bash run_eval_ascend.sh DEVICE_ID TEST_IMAGE_PATH CKPT_FILE [--key value ...]" >&2; exit 2; }
DEVICE_ID="$1" TEST_IMAGE_PATH="$2" CKPT="$3"; shift 3
bash "$SCRIPTS/eval_lfw.sh" "$MODEL" "$DEVICE_ID" "$CKPT" --config "$CFG" --data_root "$TEST_IMAGE_PATH" "$@" 2>&1 | tee eval.log
