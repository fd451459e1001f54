"""Export the PFE network (x -> mu, sigma^2) to MINDIR, ONNX or AIR, with a parity check of both outputs.

    python pfe/export.py --ckpt_file PFE.ckpt --file_format MINDIR [--file_name pfe_sphere64] [--batch_size_export 1]
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common.env  # noqa: E402,F401

from common.cli import prepare, require  # noqa: E402
from common.config import load_config  # noqa: E402
from common.export import EXPORT_KEYS, export_checked  # noqa: E402
from pfe.src.model import load_pfe  # noqa: E402
from pfe.src.pfe_net import PFEExportNet  # noqa: E402

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "pfe_sphere64_casia.yaml")


def main(argv=None):
    cfg = load_config(DEFAULT_CONFIG, argv, extra_keys=EXPORT_KEYS)
    device = prepare(cfg)
    require(cfg, "ckpt_file", "a checkpoint written by pfe/train.py", "CKPT")

    def build():
        return PFEExportNet(load_pfe(cfg, cfg.ckpt_file))

    return export_checked(cfg, build, device, what="outputs mu and sigma^2")[0]


if __name__ == "__main__":
    main()
