#!/usr/bin/env bash
# FaceNet wrapper of the shared launcher: see ../../scripts/train_standalone.sh. Works from any directory.
exec bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/train_standalone.sh" "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" "$@"
