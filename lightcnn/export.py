"""Export the LightCNN embedding network (classifier dropped) to MINDIR, ONNX or AIR, with a parity check.

    python lightcnn/export.py --ckpt_file CKPT --file_format MINDIR [--file_name lightcnn9] [--batch_size 1]
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common.env  # noqa: E402,F401

from common.config import load_config  # noqa: E402
from common.env import set_device  # noqa: E402
from common.export import export, parity  # noqa: E402
from common.train.checkpoint import load_weights  # noqa: E402
from common.train.loop import set_graph_mode  # noqa: E402
from lightcnn.src.model import build_backbone  # noqa: E402

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "lightcnn9.yaml")
EXTRA = ("ckpt_file", "file_name", "file_format", "batch_size_export")


def main(argv=None):
    cfg = load_config(DEFAULT_CONFIG, argv, extra_keys=EXTRA)
    device = set_device(cfg.get("device_target", "CPU"), cfg.get("device_id"))
    set_graph_mode(True)
    if not cfg.get("ckpt_file"):
        raise SystemExit("error: --ckpt_file CKPT is required (a checkpoint written by lightcnn/train.py)")
    net = build_backbone(cfg)
    load_weights(net, cfg.ckpt_file)
    fmt = str(cfg.get("file_format", "MINDIR")).upper()
    batch = int(cfg.get("batch_size_export", 1))
    path = export(net, net.input_size, cfg.get("file_name") or cfg.model, fmt, batch, device)
    if fmt != "AIR":
        diff = parity(build_and_load(cfg), path, net.input_size, batch)
        print(f"exported {path} ({fmt}, input {batch}x{'x'.join(map(str, net.input_size))}); "
              f"max |exported - Python| = {diff:.2e}")
    else:
        print(f"exported {path} (AIR)")
    return path


def build_and_load(cfg):
    """A fresh network for the parity reference (exporting a net object twice can fail in MindSpore)."""
    net = build_backbone(cfg)
    load_weights(net, cfg.ckpt_file)
    return net


if __name__ == "__main__":
    main()
