"""LFW View 2 (6000 pairs) for LightCNN: 10-fold accuracy, 100%-EER, TPR@FAR, AUC -> JSON + ROC PNG.

    python lightcnn/eval_lfw.py --ckpt_file CKPT --data_root LFW_DIR [--pairs pairs.txt] [--out result.json]

``--data_root`` holds ``name/name_%04d.jpg`` images; ``--pairs`` defaults to DATA_ROOT/pairs.txt.
Without --ckpt_file the untrained (randomly initialised, seed from the config) network is scored.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common.env  # noqa: E402,F401

from common.cli import prepare  # noqa: E402
from common.config import load_config  # noqa: E402
from common.data.transforms import Preprocess  # noqa: E402
from common.verify import lfw_folder, summary_lines  # noqa: E402
from lightcnn.src.model import load_backbone  # noqa: E402

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "lightcnn9.yaml")
EXTRA = ("ckpt_file", "data_root", "pairs", "out", "eval_batch_size", "flip")


def main(argv=None):
    cfg = load_config(DEFAULT_CONFIG, argv, extra_keys=EXTRA)
    if not cfg.get("data_root"):
        raise SystemExit("error: --data_root DIR is required (LFW images as name/name_0001.jpg, pairs.txt inside)")
    prepare(cfg, "eval_lfw")
    ckpt = cfg.get("ckpt_file")
    net = load_backbone(cfg, ckpt)
    out = cfg.get("out") or os.path.join(os.path.abspath(cfg.out_dir), "eval", "lfw_result.json")
    result = lfw_folder(net, Preprocess.from_config(cfg.preprocess), cfg.data_root, cfg.get("pairs"), out,
                        cfg.get("eval_batch_size", 64), flip=bool(cfg.get("flip", False)),
                        extra={"model": cfg.model, "checkpoint": os.path.abspath(ckpt) if ckpt else None})
    print(f"{cfg.model} LFW ({'checkpoint ' + ckpt if ckpt else 'untrained'}): {summary_lines(result)}")
    return result


if __name__ == "__main__":
    main()
