#!/usr/bin/env bash
# The main job on generated demo data, from a fresh clone, on the CPU:
#   set up .venv -> synthetic faces -> LFW eval of the untrained LightCNN-9 -> train -> LFW eval of the
#   trained net -> export MINDIR + ONNX (parity-checked) -> one summary table.
# DEMO_DIR (default ./demo_out under the repository) holds everything it writes. THE DATA IS SYNTHETIC.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/scripts/setup.sh"
source "$REPO/scripts/env.sh"
DEMO_DIR="${DEMO_DIR:-$REPO/demo_out}"
DATA="$DEMO_DIR/data"
RUN="$DEMO_DIR/lightcnn9"
CFG="$REPO/lightcnn/configs/demo.yaml"
T0=$(date +%s)
if [ ! -f "$DATA/test/pairs.txt" ]; then
  "$PY" -m common.data.synthetic "$DATA"
fi
rm -rf "$RUN"
echo "== LFW protocol on the unseen demo identities, untrained network"
"$PY" "$REPO/lightcnn/eval_lfw.py" --config "$CFG" --data_root "$DATA/test" --out_dir "$RUN/untrained"
echo "== training LightCNN-9 on the demo identities"
"$PY" "$REPO/lightcnn/train.py" --config "$CFG" --train_root "$DATA/train" --out_dir "$RUN"
CKPT="$(ls -t "$RUN"/ckpt/*.ckpt | head -n 1)"
echo "== LFW protocol on the unseen demo identities, trained network ($CKPT)"
"$PY" "$REPO/lightcnn/eval_lfw.py" --config "$CFG" --data_root "$DATA/test" --ckpt_file "$CKPT" --out_dir "$RUN"
echo "== export"
for FMT in MINDIR ONNX; do
  "$PY" "$REPO/lightcnn/export.py" --config "$CFG" --ckpt_file "$CKPT" --file_format "$FMT" --file_name "$RUN/export/lightcnn9_demo"
done
"$PY" "$REPO/scripts/demo_summary.py" --untrained "$RUN/untrained/eval/test.lfw_result.json" \
  --trained "$RUN/eval/test.lfw_result.json" \
  --ckpt "$CKPT" --export_dir "$RUN/export" --seconds $(( $(date +%s) - T0 ))
