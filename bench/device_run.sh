#!/usr/bin/env bash
# The GPU benchmark in one run (under 10 minutes on one GPU): checks the device, then measures
#   MindSpore GPU train step img/s, IResNet-50 and MobileFaceNet, batch 128, fp16 O2, with and without the per-step
#     sync (and the first step: graph compile + PTX JIT, timed apart), against PyTorch AMP (tests/torch_nets.py)
#     on the same GPU in the same run;
#   ONNX Runtime CUDA and TensorRT inference img/s of IResNet-50 at batch 1/32/256 (a dynamic-batch export).
# Writes OUT/device_bench.json (OUT default ./bench_out) + one log per part in OUT/logs/.
#   bash bench/device_run.sh
# Install: the CUDA 11 wheels MindSpore needs come from requirements-gpu.txt via scripts/setup_gpu.sh, which
# downloads nothing when they are in the venv already (a carried venv); a CUDA PyTorch and onnxruntime-gpu are
# tried with pip into OUT/pkgs only when the venv lacks them (NO_PIP=1: never). Each part has a time limit
# (PART_LIMIT s, default 150) and the run stops starting parts after BUDGET s (default 540).
# On a machine without an NVIDIA GPU it stops at once with one line and exit status 3.
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$PWD/bench_out}"
BUDGET="${BUDGET:-540}" PART_LIMIT="${PART_LIMIT:-150}"
START=$(date +%s)
gpu_line="$(nvidia-smi -L 2>/dev/null | grep -m1 '^GPU ' || true)"
if [ -z "$gpu_line" ] && ! compgen -G "/dev/nvidia[0-9]*" > /dev/null; then
  echo "error: bench/device_run.sh needs an NVIDIA GPU: none visible (nvidia-smi -L lists none, no /dev/nvidia0);" \
       "run it on a GPU machine (the CPU benchmarks: bench/run_all.py)" >&2
  exit 3
fi
mkdir -p "$OUT/logs" "$OUT/pkgs"
OUT="$(cd "$OUT" && pwd)"
PY="${PYTHON:-$REPO/.venv/bin/python}"
[ -x "$PY" ] || { echo "error: $PY not found (bash scripts/setup.sh first)" >&2; exit 1; }
log() { echo "[$(( $(date +%s) - START )) s] $*"; }
left() { echo $(( BUDGET - ($(date +%s) - START) )); }

log "device: ${gpu_line:-$(ls /dev/nvidia[0-9]* | head -n 1)}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$OUT/logs/nvidia-smi.txt" 2>&1 || true
# 1. MindSpore's CUDA 11 set-up (no download when the wheels are in the venv) and the check
log "setup: scripts/setup_gpu.sh (requirements-gpu.txt; python -m common.doctor --require GPU)"
bash "$REPO/scripts/setup_gpu.sh" > "$OUT/logs/setup_gpu.log" 2>&1; MS_OK=$?
tail -n 8 "$OUT/logs/setup_gpu.log"
PYTHON="$PY" source "$REPO/scripts/env.sh"
# 2. a CUDA PyTorch and onnxruntime-gpu: the venv's, else pip into OUT/pkgs (first on PYTHONPATH for those parts)
has() { "$PY" -c "$1" > /dev/null 2>&1; }
EXTRA=""
try_pip() {  # try_pip WHAT PACKAGE...: pip install --target OUT/pkgs/WHAT (time-limited), sets EXTRA
  local what="$1"; shift
  if [ "${NO_PIP:-0}" = "1" ]; then log "$what: not in the venv and NO_PIP=1"; return 1; fi
  log "$what: pip install --target $OUT/pkgs/$what $* (limit 240 s)"
  timeout 240 "$PY" -m pip install --quiet --disable-pip-version-check --target "$OUT/pkgs/$what" "$@" \
    > "$OUT/logs/pip_$what.log" 2>&1 || { log "$what: pip failed: $(tail -n 1 "$OUT/logs/pip_$what.log")"; return 1; }
}
TORCH_PATH=""
if has "import torch, sys; sys.exit(not torch.cuda.is_available())"; then TORCH_PATH=""
elif [ -d "$OUT/pkgs/torch/torch" ] || try_pip torch torch; then TORCH_PATH="$OUT/pkgs/torch"; fi
ORT_PATH=""
if has "import onnxruntime as o, sys; sys.exit('CUDAExecutionProvider' not in o.get_available_providers())"; then ORT_PATH=""
elif [ -d "$OUT/pkgs/ort/onnxruntime" ] || try_pip ort "onnxruntime-gpu[cuda,cudnn]"; then ORT_PATH="$OUT/pkgs/ort"; fi

# 3. the parts, each in its own process with a time limit; their JSON lines are collected in OUT/parts.jsonl
: > "$OUT/parts.jsonl"
part() {  # part NAME [PYTHONPATH_PREFIX] -- ARGS...
  local name="$1" pre="$2"; shift 3
  local budget; budget="$(left)"
  if [ "$budget" -lt 20 ]; then log "$name: skipped (budget spent)"
    echo "{\"part\": \"$name\", \"error\": \"skipped: the ${BUDGET} s budget was spent\"}" >> "$OUT/parts.jsonl"; return; fi
  local limit=$(( budget < PART_LIMIT ? budget : PART_LIMIT ))
  log "$name (limit $limit s)"
  PYTHONPATH="${pre:+$pre:}$PYTHONPATH" timeout "$limit" "$PY" "$REPO/bench/bench_device.py" "$@" \
    > "$OUT/logs/$name.log" 2>&1
  local rc=$? line
  line="$(grep '^{' "$OUT/logs/$name.log" | tail -n 1)"
  if [ $rc -eq 0 ] && [ -n "$line" ]; then
    echo "$line" | "$PY" -c "import json,sys; d=json.loads(sys.stdin.read()); d['part']='$name'; print(json.dumps(d))" >> "$OUT/parts.jsonl"
    log "$name: $line"
  else
    local why; why="$( [ $rc -eq 124 ] && echo "timed out after $limit s" || grep -v '^\s*$' "$OUT/logs/$name.log" | tail -n 1 | tr '"\\' "'/" | cut -c1-300)"
    echo "{\"part\": \"$name\", \"error\": \"exit $rc: $why\"}" >> "$OUT/parts.jsonl"
    log "$name: failed (exit $rc): $why"
  fi
}
for net in iresnet50 mobilefacenet; do
  if [ $MS_OK -eq 0 ]; then part "ms_train_$net" "" -- ms_train --net "$net" --batch 128 --amp O2
  else echo "{\"part\": \"ms_train_$net\", \"error\": \"MindSpore GPU not usable: $(grep '^error: ' "$OUT/logs/setup_gpu.log" | tail -n 1 | tr '"\\' "'/" | cut -c8-400)\"}" >> "$OUT/parts.jsonl"; fi
  part "torch_train_$net" "$TORCH_PATH" -- torch_train --net "$net" --batch 128
done
part export_onnx "" -- export_onnx --net iresnet50 --file "$OUT/iresnet50_dynamic.onnx"
for prov in cuda tensorrt; do
  part "ort_$prov" "$ORT_PATH" -- ort_infer --file "$OUT/iresnet50_dynamic.onnx" --providers "$prov" --batches 1,32,256
done

# 4. one JSON: the device, the parts, MindSpore / PyTorch ratios
"$PY" - "$OUT" "$gpu_line" "$(( $(date +%s) - START ))" <<'PYEOF'
import json, os, sys
out, gpu, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
parts = [json.loads(l) for l in open(os.path.join(out, "parts.jsonl")) if l.strip()]
by = {p["part"]: p for p in parts}
ratios = {}
for net in ("iresnet50", "mobilefacenet"):
    m, t = by.get(f"ms_train_{net}", {}), by.get(f"torch_train_{net}", {})
    for mode in ("sync", "nosync"):
        k = f"img_s_{mode}"
        if k in m and k in t:
            ratios[f"{net}_{mode}_ms_over_torch"] = round(m[k] / t[k], 3)
smi = open(os.path.join(out, "logs", "nvidia-smi.txt")).read().strip()
doc = {"device": gpu, "nvidia_smi": smi, "seconds": seconds, "parts": parts, "ratios": ratios}
tmp = os.path.join(out, ".device_bench.json.tmp")
with open(tmp, "w") as f:
    json.dump(doc, f, indent=1)
os.replace(tmp, os.path.join(out, "device_bench.json"))
print(json.dumps(ratios))
PYEOF
log "done: $OUT/device_bench.json"
