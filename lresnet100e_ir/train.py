"""Train LResNet100E-IR (ArcFace) (backbone + margin head + softmax cross-entropy) on identity folders, a list file or a .rec.

    python lresnet100e_ir/train.py --train_root DATA/train [--config lresnet100e_ir/configs/arcface_r100_ms1mv2.yaml] [--key value ...]
    python lresnet100e_ir/train.py --train_rec faces_emore/train.rec [--verify_bin_dir faces_emore] [--key value ...]
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common.env  # noqa: E402,F401  (CPU speed default before mindspore loads)

from lresnet100e_ir.src.model import DEFAULT_CONFIG, train  # noqa: E402


def main(argv=None):
    return train(DEFAULT_CONFIG, argv)


if __name__ == "__main__":
    main()
