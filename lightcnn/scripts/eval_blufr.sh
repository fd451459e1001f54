#!/usr/bin/env bash
# LightCNN wrapper of the shared launcher: see ../../scripts/eval_blufr.sh. Works from any directory.
exec bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/eval_blufr.sh" "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" "$@"
