#!/usr/bin/env bash
# The seed's scripts/run_infer_310.sh [MINDIR_PATH] [DATASET_PATH] [DEVICE_ID]: lightcnn/run_infer_310.sh from here.
# DATASET_PATH: the LFW image folder (pairs.txt inside for LFW scoring); acc.log (LFW + BLUFR) in WORK_DIR (./infer_310).
exec bash "$(dirname "${BASH_SOURCE[0]}")/../run_infer_310.sh" "$@"
