"""BLUFR on LFW (Liao et al. 2014) for LightCNN: VR@FAR=0.1%, DIR@FAR=1% rank 1 (mean - std of 10 trials).

    python lightcnn/eval_blufr.py --ckpt_file CKPT --data_root LFW_DIR [--blufr_config blufr_lfw_config.mat]

``--data_root`` holds the 13,233 LFW images as ``name/name_%04d.jpg``; the official config ships in
``protocols/``. Writes JSON + ROC PNG (``--out``, default OUT_DIR/eval/blufr_result.json).
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common.env  # noqa: E402,F401

from common.cli import prepare  # noqa: E402
from common.config import load_config  # noqa: E402
from common.data.transforms import Preprocess  # noqa: E402
from common.verify import blufr_folder  # noqa: E402
from lightcnn.src.model import load_backbone  # noqa: E402

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "lightcnn9.yaml")
EXTRA = ("ckpt_file", "data_root", "blufr_config", "out", "eval_batch_size")


def main(argv=None):
    cfg = load_config(DEFAULT_CONFIG, argv, extra_keys=EXTRA)
    if not cfg.get("data_root"):
        raise SystemExit("error: --data_root DIR is required (the 13,233 LFW images as name/name_0001.jpg)")
    prepare(cfg, "eval_blufr")
    ckpt = cfg.get("ckpt_file")
    net = load_backbone(cfg, ckpt)
    out = cfg.get("out") or os.path.join(os.path.abspath(cfg.out_dir), "eval", "blufr_result.json")
    config = cfg.get("blufr_config") or os.path.join(ROOT, "protocols", "blufr_lfw_config.mat")
    result = blufr_folder(net, Preprocess.from_config(cfg.preprocess), cfg.data_root, config, out,
                          cfg.get("eval_batch_size", 64),
                          extra={"model": cfg.model, "checkpoint": os.path.abspath(ckpt) if ckpt else None})
    for key in ("VR@FAR=0.1%", "DIR@FAR=1%,rank=1"):
        if key in result:
            r = result[key]
            print(f"{cfg.model} BLUFR {key}: mean {r['mean'] * 100:.2f}, std {r['std'] * 100:.2f}, "
                  f"mean-std {r['mean_minus_std'] * 100:.2f}")
    return result


if __name__ == "__main__":
    main()
