"""Evaluate CosFace (LMCL): insightface .bin sets (accuracy without / with flip, VAL@FAR, XNorm) and/or an LFW-format
folder (pairs.txt, 10 folds); one JSON + ROC PNG per target under OUT_DIR/eval, then a table.

    python cosface/eval.py --ckpt_file CKPT --bin_dir DIR [--targets lfw,cfp_fp,agedb_30]
    python cosface/eval.py --ckpt_file CKPT --data_root LFW_DIR [--pairs pairs.txt] [--flip false]

Without --ckpt_file the untrained (seeded) network is scored.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common.env  # noqa: E402,F401

from cosface.src.model import DEFAULT_CONFIG, evaluate  # noqa: E402


def main(argv=None):
    return evaluate(DEFAULT_CONFIG, argv)


if __name__ == "__main__":
    main()
