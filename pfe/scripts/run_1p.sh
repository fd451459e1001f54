#!/usr/bin/env bash
# The seed's scripts/run_1p.sh: PFE training on one device (the installed build's) = train_standalone.sh pfe.
# Needs --base_ckpt BASE.ckpt (train one: pfe/train_base.py, or python -m common.import_weights) and
# --train_root CASIA_DIR (aligned 112x96); options pass through.
exec bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/train_standalone.sh" "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" "$@"
