#!/usr/bin/env bash
# The seed's run_infer_310.sh [MINDIR_PATH] [DATASET_NAME] [DATASET_PATH] [DEVICE_ID]: DATASET_NAME must be LFW
# (the only one the seed had); then cosface/run_infer_310.sh MINDIR_PATH DATASET_PATH [DEVICE_ID] [DEVICE_TARGET].
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: bash run_infer_310.sh MINDIR_PATH DATASET_NAME DATASET_PATH [DEVICE_ID] [DEVICE_TARGET]" >&2; exit 2; }
case "$(echo "$2" | tr a-z A-Z)" in LFW) ;; *) echo "error: DATASET_NAME '$2': only LFW is supported (as in the seed)" >&2; exit 2;; esac
MINDIR="$1" DATA="$3"; shift 3
exec bash "$(dirname "${BASH_SOURCE[0]}")/../run_infer_310.sh" "$MINDIR" "$DATA" "$@"
