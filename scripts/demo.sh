#!/usr/bin/env bash
# The main job on generated demo data, from a fresh clone, on the CPU:
#   set up .venv -> synthetic faces + a small synthetic IJB-C set -> eval of the untrained LightCNN-9 (LFW
#   protocol + IJB-C 1:1 / 1:N) -> train -> the same eval of the trained net -> export MINDIR + ONNX
#   (parity-checked) -> compare.html (untrained vs trained) -> one summary table.
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
IJB="$DATA/ijbc"  # 50 unseen subjects, 150 templates, ~350 loose crops, 11175 template pairs (FAR 1e-4 resolved)
if [ ! -f "$DATA/test/pairs.txt" ]; then
  "$PY" -m common.data.synthetic "$DATA"
fi
if [ ! -f "$IJB/meta/ijbc_template_pair_label.txt" ]; then
  "$PY" -m common.data.synthetic_ijb "$IJB" --subjects 48 --templates 3 --outsiders 2 --seed 7
fi
rm -rf "$RUN" "$DEMO_DIR/compare.html"
echo "== LFW protocol and IJB-C on the unseen demo identities, untrained network"
"$PY" "$REPO/lightcnn/eval_lfw.py" --config "$CFG" --data_root "$DATA/test" --ijb_dir "$IJB" --out_dir "$RUN/untrained"
echo "== training LightCNN-9 on the demo identities"
"$PY" "$REPO/lightcnn/train.py" --config "$CFG" --train_root "$DATA/train" --out_dir "$RUN"
CKPT="$(ls -t "$RUN"/ckpt/*.ckpt | head -n 1)"
echo "== LFW protocol and IJB-C on the unseen demo identities, trained network ($CKPT)"
"$PY" "$REPO/lightcnn/eval_lfw.py" --config "$CFG" --data_root "$DATA/test" --ijb_dir "$IJB" --ckpt_file "$CKPT" \
  --out_dir "$RUN"
echo "== comparison page: untrained vs trained"
"$PY" -m common.evaluate --report "$RUN/untrained/eval/test.lfw_result.json" "$RUN/eval/test.lfw_result.json" \
  "$RUN/untrained/eval/ijbc.ijb_result.json" "$RUN/eval/ijbc.ijb_result.json" --out "$DEMO_DIR/compare.html"
echo "== export"
for FMT in MINDIR ONNX; do
  "$PY" "$REPO/lightcnn/export.py" --config "$CFG" --ckpt_file "$CKPT" --file_format "$FMT" --file_name "$RUN/export/lightcnn9_demo"
done
"$PY" "$REPO/scripts/demo_summary.py" --untrained "$RUN/untrained/eval/test.lfw_result.json" \
  --trained "$RUN/eval/test.lfw_result.json" \
  --ijb_untrained "$RUN/untrained/eval/ijbc.ijb_result.json" --ijb_trained "$RUN/eval/ijbc.ijb_result.json" \
  --report "$RUN/eval/report.html" --compare "$DEMO_DIR/compare.html" --curves "$RUN/logs/curves.png" \
  --ckpt "$CKPT" --export_dir "$RUN/export" --seconds $(( $(date +%s) - T0 ))
