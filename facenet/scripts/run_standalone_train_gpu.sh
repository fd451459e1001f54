#!/usr/bin/env bash
# The seed's run_standalone_train_gpu.sh [DEVICE_ID] [--key value ...]: the seed's ResNet-50/FC128 recipe on one
# device (the installed build's). The training data is needed: --train_root VGGFACE2_DIR (or --train_csv CSV
# --train_root DIR, the seed's write_csv_for_making_triplets.py CSV); LFW during training: --verify_data_root DIR.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; MODEL="$(cd "$HERE/.." && pwd)"; SCRIPTS="$MODEL/../scripts"
CFG="$MODEL/configs/resnet50_fc128.yaml"   # the seed's network: ResNet-50 + FC128 at 224x224
ID=(); case "${1:-}" in ""|*[!0-9]*) ;; *) ID=("$1"); shift;; esac   # DEVICE_ID, as the seed took it
exec bash "$SCRIPTS/train_standalone.sh" "$MODEL" "${ID[@]+"${ID[@]}"}" --config "$CFG" "$@"
