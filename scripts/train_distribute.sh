#!/usr/bin/env bash
# Train one model on 2 or 4 Ascend devices of this server with an HCCL rank table, in the background.
#   bash scripts/train_distribute.sh MODEL HCCL_JSON 2|4 [--key value ...]
# HCCL_JSON: a rank table (python scripts/hccl_tools.py write --devices 0-3) with exactly that many devices;
# it is validated before any process starts. One process per device, each with RANK_TABLE_FILE, RANK_SIZE,
# RANK_ID and DEVICE_ID set, logging to LOG_DIR/rank_<i>.log (LOG_DIR default ./train_MODEL_ascend_Np).
# Options go to MODEL/train.py. FOREGROUND=1 waits and returns the first failing rank's exit status.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$(dirname "${BASH_SOURCE[0]}")/distribute.sh"
[ $# -ge 3 ] || { echo "usage: bash scripts/train_distribute.sh MODEL HCCL_JSON 2|4 [--key value ...]" >&2; exit 2; }
MODEL_DIR="$(model_dir "$1")"; TABLE="$2"; N="$3"; shift 3
case "$N" in 2|4) ;; 8) die "8 devices: use scripts/train_distribute_8p.sh MODEL HCCL_JSON";;
  *) die "the device count must be 2 or 4, got '$N' (8: scripts/train_distribute_8p.sh)";; esac
launch_rank_table "$MODEL_DIR" "$TABLE" "$N" "$@"
