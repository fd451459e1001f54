#!/usr/bin/env bash
# One C++ inference pipeline for every model: preprocess -> build (if needed) -> infer -> postprocess.
#
# usage: bash scripts/run_infer_310.sh MODEL_PATH DATASET_PATH [DEVICE_ID] [DEVICE_TARGET]
#   MODEL_PATH     Ascend: the exported .mindir (loaded directly);
#                  CPU/GPU: the exported .onnx (converted here to a Lite model); a .mindir with a sibling
#                  .onnx of the same stem (export both) uses that .onnx; else a Lite .mindir made before
#   DATASET_PATH   image directory or image list file
#   DEVICE_ID      default 0;  DEVICE_TARGET  Ascend (default) | GPU | CPU
# The preprocessing and the outputs come from the export's sidecar MODEL_PATH.json (written by export.py; for a
# .mindir run through its sibling .onnx, that file's .json when MODEL_PATH.json is absent).
# Environment (a model's thin run_infer_310.sh sets POSTPROCESS):
#   POSTPROCESS  python script, run as: POSTPROCESS --manifest M --result_dir R --dataset_path D --model F --sidecar S
#   SIDECAR      the sidecar to use instead (e.g. for a Lite .mindir made by faceid_convert: its ONNX's .json)
#   WORK_DIR     folder for inputs, results and logs (default ./infer_310)
#   BATCH_SIZE   images per Predict for a dynamic-batch export (export --batch_size dynamic; a static export's N
#                is its own); MSLITE_HOME / MSLITE_VERSION  the MindSpore Lite package (checked against the MINDIR)
#   ASCEND_TOOLKIT_HOME / ASCEND_HOME  the CANN toolkit (Ascend; default /usr/local/Ascend/ascend-toolkit/latest)
#   ALIGN        raw photos: detect + align first, with this template (true: the sidecar's align), in Python
#   PYTHON       interpreter (default: the repository's .venv, else python3)
set -euo pipefail

if [[ $# -lt 2 || $# -gt 4 ]]; then
  sed -n '4,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
MODEL_PATH="$(realpath -m "$1")"
DATASET_PATH="$(realpath -m "$2")"
DEVICE_ID="${3:-0}"
DEVICE_TARGET="${4:-Ascend}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK_DIR="$(realpath -m "${WORK_DIR:-./infer_310}")"
PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" ]]; then PY="$ROOT/.venv/bin/python"; else PY="python3"; fi
fi
export GLOG_v="${GLOG_v:-3}"  # MindSpore Lite's own log: errors only
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"  # so the POSTPROCESS hook can import common

die() { echo "error: $*" >&2; exit 1; }
[[ -f "$MODEL_PATH" ]] || die "$MODEL_PATH: model file not found"
[[ -e "$DATASET_PATH" ]] || die "$DATASET_PATH: dataset not found"
[[ -z "${CONFIG:-}" ]] || echo "note: CONFIG is not read any more: the preprocessing comes from the export's sidecar"
if [[ -z "${SIDECAR:-}" ]]; then
  SIDECAR="$MODEL_PATH.json"
  if [[ ! -f "$SIDECAR" && "${MODEL_PATH##*.}" == "mindir" && "$DEVICE_TARGET" != "Ascend" && -f "${MODEL_PATH%.*}.onnx.json" ]]; then
    SIDECAR="${MODEL_PATH%.*}.onnx.json"
  fi
fi
SIDECAR="$(realpath -m "$SIDECAR")"
if [[ -n "${POSTPROCESS:-}" ]]; then
  [[ -f "$POSTPROCESS" ]] || die "$POSTPROCESS: POSTPROCESS script not found"
  POSTPROCESS="$(realpath "$POSTPROCESS")"
fi
case "$DEVICE_TARGET" in Ascend|GPU|CPU) ;; *) die "DEVICE_TARGET must be Ascend, GPU or CPU, got '$DEVICE_TARGET'" ;; esac
# The device before any work (preprocess, build): Ascend needs an Ascend MindSpore Lite package (MSLITE_HOME with
# its Ascend plugin) and an NPU; the default package (PyPI mindspore-lite, install_mslite.sh) is CPU-only.
if [[ "$DEVICE_TARGET" == "Ascend" ]]; then
  why="MSLITE_HOME not set: the PyPI package"; [[ -z "${MSLITE_HOME:-}" ]] || why="no Ascend plugin in $MSLITE_HOME/lib"
  [[ -n "${MSLITE_HOME:-}" && -n "$(find "$MSLITE_HOME/lib" -maxdepth 3 -iname '*ascend*' -print -quit 2>/dev/null)" ]] ||
    die "DEVICE_TARGET Ascend: this MindSpore Lite build is CPU-only ($why); set MSLITE_HOME to an Ascend package, or give DEVICE_TARGET CPU (bash $0 MODEL DATASET 0 CPU)"
  compgen -G "/dev/davinci[0-9]*" >/dev/null || die "DEVICE_TARGET Ascend: no Ascend NPU on this machine (/dev/davinci*); run with DEVICE_TARGET CPU"
fi
# before anything is built or preprocessed: can this MindSpore Lite load the MINDIR (common/deploy/lite_check.py);
# Ascend: the CANN environment (ASCEND_TOOLKIT_HOME / ASCEND_HOME, its set_env.sh)
(cd "$ROOT" && "$PY" -m common.deploy.lite_check --model "$MODEL_PATH" --device_target "$DEVICE_TARGET") || exit 1
if [[ "$DEVICE_TARGET" == "Ascend" ]]; then source "$ROOT/scripts/cann_env.sh"; cann_env || exit 1; fi
mkdir -p "$WORK_DIR"

echo "== preprocess (as $SIDECAR says)"
(cd "$ROOT" && "$PY" -m common.infer310 preprocess --model "$MODEL_PATH" --sidecar "$SIDECAR" \
  --images "$DATASET_PATH" --out_dir "$WORK_DIR/input" ${ALIGN:+--align "$ALIGN"}) || exit 1
BUILD="$ROOT/ascend310_infer/build"

convert_onnx() {  # ONNX -> $WORK_DIR/model_lite.mindir, the model the CPU/GPU harness runs
  [[ -x "$BUILD/faceid_convert" ]] || die "$BUILD/faceid_convert missing: this MindSpore package has no converter"
  echo "$DEVICE_TARGET: converting ONNX to a MindSpore Lite model (Lite cannot read MindSpore 2.x MINDIR)"
  # constant Unsqueeze/Reshape (e.g. MindSpore's PReLU slope) folded into initializers: Lite 2.0 needs that
  (cd "$ROOT" && "$PY" -m common.deploy.onnx_fold "$1" "$WORK_DIR/model_folded.onnx" >"$WORK_DIR/convert.log" 2>&1) ||
    die "$(tail -n 1 "$WORK_DIR/convert.log" | sed 's/^error: //')"
  "$BUILD/faceid_convert" "$WORK_DIR/model_folded.onnx" "$WORK_DIR/model_lite" >>"$WORK_DIR/convert.log" 2>&1 ||
    die "conversion failed, see $WORK_DIR/convert.log"
  INFER_MODEL="$WORK_DIR/model_lite.mindir"
}

echo "== build"
bash "$ROOT/ascend310_infer/build.sh" >"$WORK_DIR/build.log" 2>&1 || die "build failed, see $WORK_DIR/build.log"

echo "== model"
INFER_MODEL="$MODEL_PATH"
case "$DEVICE_TARGET:${MODEL_PATH##*.}" in
  Ascend:mindir) echo "Ascend: loading the MINDIR directly: $MODEL_PATH" ;;
  Ascend:*) die "$MODEL_PATH: Ascend loads the exported .mindir; export with file_format MINDIR" ;;
  *:onnx) convert_onnx "$MODEL_PATH" ;;
  *:mindir)
    if [[ -f "${MODEL_PATH%.*}.onnx" ]]; then
      echo "$DEVICE_TARGET: MindSpore Lite cannot read a MindSpore 2.x MINDIR; using the sibling ${MODEL_PATH%.*}.onnx"
      convert_onnx "${MODEL_PATH%.*}.onnx"
    else
      echo "$DEVICE_TARGET: using $MODEL_PATH as a Lite model made by faceid_convert"
    fi ;;
  *) die "$MODEL_PATH: expected .onnx or .mindir" ;;
esac

echo "== infer"
"$BUILD/faceid_infer" --model_path "$INFER_MODEL" --input_list "$WORK_DIR/input/inputs.txt" \
  --output_dir "$WORK_DIR/result" --device_target "$DEVICE_TARGET" --device_id "$DEVICE_ID" \
  --latency_file "$WORK_DIR/latency.txt" ${BATCH_SIZE:+--batch_size "$BATCH_SIZE"} 2>"$WORK_DIR/infer.log" || {
  grep -q "maximum mind ir version" "$WORK_DIR/infer.log" &&
    die "$MODEL_PATH: a MindSpore MINDIR, which MindSpore Lite on $DEVICE_TARGET cannot read; $DEVICE_TARGET needs" \
        "the ONNX file: export it too (export.py --file_format ONNX, same --file_name) so ${MODEL_PATH%.*}.onnx exists"
  die "inference failed: $(grep '^error: ' "$WORK_DIR/infer.log" | tail -n 1 | cut -c8-) (log: $WORK_DIR/infer.log)"
}

echo "== postprocess"
if [[ -n "${POSTPROCESS:-}" ]]; then
  (cd "$ROOT" && "$PY" "$POSTPROCESS" --manifest "$WORK_DIR/input/manifest.tsv" --result_dir "$WORK_DIR/result" \
    --dataset_path "$DATASET_PATH" --model "$MODEL_PATH" --sidecar "$SIDECAR")
else
  echo "no POSTPROCESS set; outputs in $WORK_DIR/result (order: $WORK_DIR/input/manifest.tsv)"
fi
echo "latency: $(cat "$WORK_DIR/latency.txt")"
