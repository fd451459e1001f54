#!/usr/bin/env bash
# LResNet100E-IR (ArcFace) wrapper of the shared launcher: see ../../scripts/eval_lfw.sh. Works from any directory.
exec bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/eval_lfw.sh" "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" "$@"
