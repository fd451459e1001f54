#!/usr/bin/env bash
# LightCNN wrapper of the shared launcher: see ../../scripts/run_distribute_train_gpu.sh. Works from any directory.
exec bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/run_distribute_train_gpu.sh" "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" "$@"
