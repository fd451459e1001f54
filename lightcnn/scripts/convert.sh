#!/usr/bin/env bash
# The seed's scripts/convert.sh FILE_PATH OUTPUT_PATH: MS-Celeb-1M FaceImageCroppedWithAlignment.tsv -> images
# OUTPUT_PATH/<MID>/<rank>-<faceid>.jpg (python -m common.data.msceleb_tsv; extra options pass through, e.g.
# --clean_list MS-Celeb-1M_clean_list.txt).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/env.sh"
[ $# -ge 2 ] || { echo "usage: bash scripts/convert.sh FILE_PATH OUTPUT_PATH [--clean_list LIST] [--limit N]" >&2; exit 2; }
[ -f "$1" ] || { echo "error: $1: TSV file not found (FaceImageCroppedWithAlignment.tsv)" >&2; exit 1; }
exec "$PY" -m common.data.msceleb_tsv "$@"
