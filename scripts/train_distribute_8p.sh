#!/usr/bin/env bash
# Train one model on the 8 Ascend devices of this server with an HCCL rank table, in the background.
#   bash scripts/train_distribute_8p.sh MODEL HCCL_JSON [--key value ...]
# HCCL_JSON: python scripts/hccl_tools.py write --devices 0-7 (validated before any process starts).
# See scripts/train_distribute.sh for the environment, logs and FOREGROUND=1.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$(dirname "${BASH_SOURCE[0]}")/distribute.sh"
[ $# -ge 2 ] || { echo "usage: bash scripts/train_distribute_8p.sh MODEL HCCL_JSON [--key value ...]" >&2; exit 2; }
MODEL_DIR="$(model_dir "$1")"; TABLE="$2"; shift 2
launch_rank_table "$MODEL_DIR" "$TABLE" 8 "$@"
