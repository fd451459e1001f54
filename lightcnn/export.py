"""Export the LightCNN embedding network (classifier dropped) to MINDIR, ONNX or AIR, with a parity check.

    python lightcnn/export.py --ckpt_file CKPT --file_format MINDIR [--file_name lightcnn9] [--batch_size_export 1]
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common.env  # noqa: E402,F401

from common.cli import prepare, require  # noqa: E402
from common.config import load_config  # noqa: E402
from common.export import EXPORT_KEYS, export_checked  # noqa: E402
from lightcnn.src.model import load_backbone  # noqa: E402

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "lightcnn9.yaml")


def main(argv=None):
    cfg = load_config(DEFAULT_CONFIG, argv, extra_keys=EXPORT_KEYS)
    device = prepare(cfg)
    require(cfg, "ckpt_file", "a checkpoint written by lightcnn/train.py", "CKPT")

    return export_checked(cfg, lambda: load_backbone(cfg, cfg.ckpt_file), device, what="256-d embedding")[0]


if __name__ == "__main__":
    main()
