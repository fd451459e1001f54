#!/usr/bin/env bash
# Train one model on N Ascend devices of this machine with msrun (data parallel, HCCL; no rank table), in the
# background.   bash scripts/run_distribute_train_ascend.sh MODEL N [--bind_core] [--key value ...]
# Each worker takes the NPU of its local rank; --bind_core binds each to its share of the cores; --workers
# defaults to the cores per NPU less one. Logs LOG_DIR/worker_<rank>.log (LOG_DIR default
# ./train_MODEL_ascend_Np). Several machines: --nodes M --node_rank K --master_addr HOST [--master_port P], as in
# scripts/run_distribute_train_gpu.sh. FOREGROUND=1 waits; DRY_RUN=1 prints the msrun command and each rank's
# device. The rank-table launchers (train_distribute.sh, train_distribute_8p.sh) stay for HCCL rank tables.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$(dirname "${BASH_SOURCE[0]}")/distribute.sh"
[ $# -ge 2 ] || { echo "usage: bash scripts/run_distribute_train_ascend.sh MODEL N [--bind_core] [--nodes M --node_rank K --master_addr HOST [--master_port P]] [--key value ...]" >&2; exit 2; }
MODEL_DIR="$(model_dir "$1")"; N="$2"; shift 2
launch_msrun Ascend "$MODEL_DIR" "$N" "$@"
