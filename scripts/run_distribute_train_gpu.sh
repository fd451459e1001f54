#!/usr/bin/env bash
# Train one model on N GPUs of this machine (data parallel, NCCL), in the background.
#   bash scripts/run_distribute_train_gpu.sh MODEL N [--key value ...]
# Launcher: msrun (MASTER_PORT: default a free port; logs LOG_DIR/worker_<rank>.log, LOG_DIR default
# ./train_MODEL_gpu_Np); LAUNCHER=mpirun uses OpenMPI's mpirun instead (logs LOG_DIR/mpirun.log; each rank on
# the GPU of its local rank, the CUDA/NCCL environment forwarded). --bind_core binds each rank to its share of
# the cores; --workers defaults to the cores per GPU less one (see scripts/distribute.sh).
# Options go to MODEL/train.py. FOREGROUND=1 waits and returns the exit status.
# Several machines: --nodes M --node_rank K --master_addr HOST [--master_port P] (msrun's multi-node mode;
# run the same command on each node, N processes per node, K = 0..M-1, HOST = node 0's address, P default
# 8118). A node that cannot reach the master stops after MASTER_TIMEOUT s (120) with one line; logs per node
# in ./train_MODEL_gpu_<M*N>p_node<K>/worker_<rank>.log. DRY_RUN=1 prints the msrun command. See
# scripts/distribute.sh (launch_msrun).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$(dirname "${BASH_SOURCE[0]}")/distribute.sh"
[ $# -ge 2 ] || { echo "usage: bash scripts/run_distribute_train_gpu.sh MODEL N [--nodes M --node_rank K --master_addr HOST [--master_port P]] [--key value ...]" >&2; exit 2; }
MODEL_DIR="$(model_dir "$1")"; N="$2"; shift 2
if [ "${LAUNCHER:-msrun}" = "mpirun" ]; then launch_mpirun "$MODEL_DIR" "$N" "$@"; exit $?; fi
launch_msrun GPU "$MODEL_DIR" "$N" "$@"
