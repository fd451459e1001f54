#!/usr/bin/env bash
# Train one model on N GPUs of this machine (data parallel, NCCL), in the background.
#   bash scripts/run_distribute_train_gpu.sh MODEL N [--key value ...]
# Launcher: msrun (MASTER_PORT: default a free port; logs LOG_DIR/worker_<rank>.log, LOG_DIR default
# ./train_MODEL_gpu_Np); LAUNCHER=mpirun uses OpenMPI's mpirun instead (logs LOG_DIR/mpirun.log).
# Options go to MODEL/train.py. FOREGROUND=1 waits and returns the exit status.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$(dirname "${BASH_SOURCE[0]}")/distribute.sh"
[ $# -ge 2 ] || { echo "usage: bash scripts/run_distribute_train_gpu.sh MODEL N [--key value ...]" >&2; exit 2; }
MODEL_DIR="$(model_dir "$1")"; N="$2"; shift 2
if [ "${LAUNCHER:-msrun}" = "mpirun" ]; then
  is_int "$N" && [ "$N" -ge 1 ] || die "the number of processes must be a positive integer, got '$N'"
  command -v mpirun > /dev/null || die "mpirun not found on PATH (install OpenMPI, or leave LAUNCHER unset for msrun)"
  LOG_DIR="${LOG_DIR:-$PWD/train_$(basename "$MODEL_DIR")_gpu_${N}p}"; mkdir -p "$LOG_DIR"
  CMD=(mpirun -n "$N" --allow-run-as-root -x PYTHONPATH -x ONEDNN_MAX_CPU_ISA --output-filename "$LOG_DIR/mpi"
       "$PY" "$MODEL_DIR/train.py" --device_target GPU "$@")
  if [ "${FOREGROUND:-0}" = "1" ]; then "${CMD[@]}" > "$LOG_DIR/mpirun.log" 2>&1; exit $?; fi
  nohup "${CMD[@]}" > "$LOG_DIR/mpirun.log" 2>&1 &
  echo "training $(basename "$MODEL_DIR") on $N GPUs with mpirun in the background (pid $!); log: $LOG_DIR/mpirun.log"
  exit 0
fi
launch_msrun GPU "$MODEL_DIR" "$N" "$@"
