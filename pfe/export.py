"""Export the PFE network (x -> mu, sigma^2) to MINDIR, ONNX or AIR, with a parity check of both outputs.

    python pfe/export.py --ckpt_file PFE.ckpt --file_format MINDIR [--file_name pfe_sphere64] [--batch_size_export 1]
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common.env  # noqa: E402,F401

from common.config import load_config  # noqa: E402
from common.env import set_device  # noqa: E402
from common.export import export, parity  # noqa: E402
from common.train.loop import set_graph_mode  # noqa: E402
from pfe.src.model import load_pfe  # noqa: E402
from pfe.src.pfe_net import PFEExportNet  # noqa: E402

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "pfe_sphere64_casia.yaml")
EXTRA = ("ckpt_file", "file_name", "file_format", "batch_size_export")


def build(cfg):
    """A fresh export network (exporting one net object twice can fail in MindSpore)."""
    return PFEExportNet(load_pfe(cfg, cfg.ckpt_file))


def main(argv=None):
    cfg = load_config(DEFAULT_CONFIG, argv, extra_keys=EXTRA)
    device = set_device(cfg.get("device_target", "CPU"), cfg.get("device_id"))
    set_graph_mode(True)
    if not cfg.get("ckpt_file"):
        raise SystemExit("error: --ckpt_file CKPT is required (a checkpoint written by pfe/train.py)")
    net = build(cfg)
    size = net.net.backbone.input_size
    fmt = str(cfg.get("file_format", "MINDIR")).upper()
    batch = int(cfg.get("batch_size_export", 1))
    path = export(net, size, cfg.get("file_name") or cfg.model, fmt, batch, device)
    if fmt == "AIR":
        print(f"exported {path} (AIR)")
        return path
    diff = parity(build(cfg), path, size, batch)
    print(f"exported {path} ({fmt}, input {batch}x{'x'.join(map(str, size))}, outputs mu and sigma^2); "
          f"max |exported - Python| = {diff:.2e}")
    return path


if __name__ == "__main__":
    main()
