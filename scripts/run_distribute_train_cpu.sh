#!/usr/bin/env bash
# Train one model with N CPU processes on this machine (data parallel, mccl), in the background.
#   bash scripts/run_distribute_train_cpu.sh MODEL N [--key value ...]
# Launcher: msrun (MASTER_PORT: default a free port; logs LOG_DIR/worker_<rank>.log, LOG_DIR default
# ./train_MODEL_cpu_Np). Options go to MODEL/train.py. FOREGROUND=1 waits and returns the exit status.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$(dirname "${BASH_SOURCE[0]}")/distribute.sh"
[ $# -ge 2 ] || { echo "usage: bash scripts/run_distribute_train_cpu.sh MODEL N [--key value ...]" >&2; exit 2; }
MODEL_DIR="$(model_dir "$1")"; N="$2"; shift 2
launch_msrun CPU "$MODEL_DIR" "$N" "$@"
