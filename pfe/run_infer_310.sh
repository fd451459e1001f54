#!/usr/bin/env bash
# PFE (outputs mu and sigma^2) on the C++ inference harness (Ascend 310 / GPU / CPU): preprocess -> build -> infer -> LFW scoring with cosine of mu and MLS.
# usage: bash run_infer_310.sh MODEL_PATH DATASET_PATH [DEVICE_ID] [DEVICE_TARGET]      (from any directory)
# MODEL_PATH: the file pfe/export.py wrote (.mindir; on CPU/GPU the .onnx, or a .mindir with its .onnx beside it);
# its sidecar MODEL_PATH.json says how images are prepared. WORK_DIR: default ./infer_310.
# The steps and the CPU route are in ../scripts/run_infer_310.sh; scoring in ../common/deploy/infer310_post.py
# (result.json + ROC PNG when DATASET_PATH holds pairs.txt).
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ $# -ge 2 && $# -le 4 ]] || { sed -n '3,5p' "${BASH_SOURCE[0]}" | cut -c3- >&2; exit 2; }
export POSTPROCESS="${POSTPROCESS:-$HERE/../common/deploy/infer310_post.py}"
exec bash "$HERE/../scripts/run_infer_310.sh" "$@"
