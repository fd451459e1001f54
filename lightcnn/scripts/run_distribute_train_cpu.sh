#!/usr/bin/env bash
# LightCNN wrapper of the shared launcher: see ../../scripts/run_distribute_train_cpu.sh. Works from any directory.
exec bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/run_distribute_train_cpu.sh" "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" "$@"
