#!/usr/bin/env bash
# The seed's scripts/run_eval.sh [EVAL_PATH] [CKPT_PATH] [--key value ...]: the .bin sets lfw, cfp_fp, agedb_30 found
# in EVAL_PATH (--targets to choose), printed as the table and the seed's '[lfw]Accuracy-Flip: ...' lines; also ./eval.log.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; MODEL="$(cd "$HERE/.." && pwd)"; SCRIPTS="$MODEL/../scripts"
source "$SCRIPTS/env.sh"
[ $# -ge 2 ] || { echo "usage: bash scripts/run_eval.sh EVAL_PATH CKPT_PATH [--key value ...]" >&2; exit 2; }
EVAL_PATH="$1"; shift
[ -d "$EVAL_PATH" ] || { echo "error: EVAL_PATH $EVAL_PATH: folder of .bin sets (lfw.bin, cfp_fp.bin, agedb_30.bin) not found" >&2; exit 1; }
ckpt_arg "$1" || { echo "error: CKPT_PATH must be a checkpoint file, got '$1'" >&2; exit 2; }; shift
T=(); for t in lfw cfp_fp agedb_30; do [ -f "$EVAL_PATH/$t.bin" ] && T+=("$t"); done
[ ${#T[@]} -gt 0 ] || { echo "error: $EVAL_PATH holds none of lfw.bin, cfp_fp.bin, agedb_30.bin" >&2; exit 1; }
TARGETS="$(IFS=,; echo "${T[*]}")"
case " $* " in *" --targets "*) TARGETS_ARG=();; *) TARGETS_ARG=(--targets "$TARGETS");; esac
"$PY" "$MODEL/eval.py" --bin_dir "$EVAL_PATH" --ckpt_file "$CKPT_FILE" "${TARGETS_ARG[@]}" "$@" 2>&1 | tee eval.log
