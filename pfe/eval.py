"""LFW-format verification with PFE: cosine of mu and MLS of (mu, sigma^2), side by side -> JSON + ROC PNG.

    python pfe/eval.py --ckpt_file PFE.ckpt --data_root LFW_DIR [--pairs pairs.txt] [--out result.json]
                       [--config pfe/configs/pfe_sphere64_casia.yaml]

``--data_root`` holds ``name/name_%04d.jpg``; ``--pairs`` defaults to DATA_ROOT/pairs.txt. Every image the pairs
name is embedded once (mu and sigma^2); both scores go through the same 10-fold protocol and ROC metrics.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common.env  # noqa: E402,F401

import numpy as np  # noqa: E402

from common.cli import prepare  # noqa: E402
from common.config import load_config  # noqa: E402
from common.data.transforms import Preprocess  # noqa: E402
from common.embed import extract  # noqa: E402
from common.evaluate import roc_metrics  # noqa: E402
from common.protocols import lfw  # noqa: E402
from common.protocols.plots import write_result  # noqa: E402
from common.verify import pair_images  # noqa: E402
from pfe.src.mls import mls_score  # noqa: E402
from pfe.src.model import PFEConcat, load_pfe, split_concat  # noqa: E402

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "pfe_sphere64_casia.yaml")
EXTRA = ("ckpt_file", "data_root", "pairs", "out", "eval_batch_size")


def pair_scores(mu, sigma_sq, rows):
    """{'cosine': cosine of mu, 'mls': mutual likelihood score} for each (row_a, row_b) of ``rows``."""
    a, b = rows[:, 0], rows[:, 1]
    return {"cosine": lfw.cosine_scores(mu, rows), "mls": mls_score(mu[a], sigma_sq[a], mu[b], sigma_sq[b])}


def score_pairs(mu, sigma_sq, names, pairs_path):
    """Both scores through the LFW 10-fold protocol and the ROC metrics: one dict with 'cosine' and 'mls'."""
    try:
        pairs = lfw.read_pairs(pairs_path)
        rows = lfw.pair_indices(names, pairs, pairs_path)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    out = {"protocol": "lfw", "pairs": len(rows), "images": len(names), "embedding_dim": int(mu.shape[1]),
           "mean_sigma_sq": float(np.mean(sigma_sq)), "roc": {}}
    for name, scores in pair_scores(mu, sigma_sq, rows).items():
        metrics, curve = roc_metrics(scores, pairs.issame)
        out[name] = dict(lfw.kfold_accuracy(scores, pairs.issame, pairs.fold), **metrics)
        out["roc"][f"{name} ({out[name]['accuracy_mean'] * 100:.2f}%)"] = curve
    return out


def embed_folder(net, preprocess, data_root, pairs_path, batch_size):
    """(names, mu, sigma^2) of every image the pairs file names; missing images are a one-line error."""
    _, names, paths = pair_images(data_root, pairs_path)
    out = extract(PFEConcat(net), paths, preprocess, batch_size, desc="PFE embeddings")
    mu, sigma_sq = split_concat(out)
    return names, mu, sigma_sq


def main(argv=None):
    cfg = load_config(DEFAULT_CONFIG, argv, extra_keys=EXTRA)
    if not cfg.get("data_root"):
        raise SystemExit("error: --data_root DIR is required (LFW-format images name/name_0001.jpg, pairs.txt inside)")
    if not cfg.get("ckpt_file"):
        raise SystemExit("error: --ckpt_file CKPT is required (a checkpoint written by pfe/train.py)")
    prepare(cfg, "pfe eval")
    net = load_pfe(cfg, cfg.ckpt_file)
    pairs_path = cfg.get("pairs") or os.path.join(cfg.data_root, "pairs.txt")
    names, mu, sigma_sq = embed_folder(net, Preprocess.from_config(cfg.preprocess), cfg.data_root, pairs_path,
                                       int(cfg.get("eval_batch_size", 64)))
    result = score_pairs(mu, sigma_sq, names, pairs_path)
    result.update({"model": cfg.model, "backbone": cfg.backbone, "checkpoint": os.path.abspath(cfg.ckpt_file),
                   "files": {"pairs": os.path.abspath(pairs_path), "images": os.path.abspath(cfg.data_root)}})
    out = cfg.get("out") or os.path.join(os.path.abspath(cfg.out_dir), "eval", "lfw_pfe_result.json")
    json_path, png = write_result(out, result)
    for name in ("cosine", "mls"):
        r = result[name]
        print(f"PFE LFW {name:>6}: accuracy {r['accuracy_mean'] * 100:.2f} +- {r['accuracy_std'] * 100:.2f}, "
              f"100%-EER {r['100%-EER'] * 100:.2f}, TPR@FAR=0.1% {r['TPR@FAR=0.1%'] * 100:.2f}, "
              f"AUC {r['auc'] * 100:.2f}")
    print(f"mean sigma^2 {result['mean_sigma_sq']:.3g}; wrote {json_path} and {png}")
    return result


if __name__ == "__main__":
    main()
