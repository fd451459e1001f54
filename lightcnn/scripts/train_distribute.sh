#!/usr/bin/env bash
# LightCNN wrapper of the shared launcher: see ../../scripts/train_distribute.sh. Works from any directory.
exec bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/train_distribute.sh" "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" "$@"
