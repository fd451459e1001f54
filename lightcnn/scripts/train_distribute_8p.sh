#!/usr/bin/env bash
# LightCNN wrapper of the shared launcher: see ../../scripts/train_distribute_8p.sh. Works from any directory.
exec bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/train_distribute_8p.sh" "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" "$@"
