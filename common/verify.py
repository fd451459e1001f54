"""Evaluation flows shared by every model's eval script: images -> embeddings -> protocol -> JSON + PNG."""
import os

import numpy as np

from common.embed import extract
from common.evaluate import evaluate_bin, evaluate_lfw
from common.protocols import binsets, lfw
from common.protocols.plots import write_result


def pair_images(data_root, pairs_path):
    """Read ``pairs_path`` (LFW View 2) and check every image it names exists under ``data_root``.

    Returns (pairs, sorted relative names, absolute paths); one clear line on a bad file or a missing image."""
    try:
        pairs = lfw.read_pairs(pairs_path)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    names = sorted(set(pairs.first) | set(pairs.second))
    missing = [n for n in names if not os.path.isfile(os.path.join(data_root, n))]
    if missing:
        raise SystemExit(f"error: {pairs_path}: names {len(missing)} image(s) missing under {data_root}, "
                         f"e.g. {missing[0]}")
    return pairs, names, [os.path.join(data_root, n) for n in names]


def lfw_folder(net, preprocess, data_root, pairs_path=None, out_json=None, batch_size=64, log=print, flip=False,
               extra=None):
    """LFW View 2 on an image folder: embed every image the pairs name, score, write JSON + ROC PNG.

    ``flip`` adds the horizontally flipped image's embedding to each embedding (as the .bin protocol does).
    """
    pairs_path = pairs_path or os.path.join(data_root, "pairs.txt")
    _, names, paths = pair_images(data_root, pairs_path)
    emb = extract(net, paths, preprocess, batch_size, flip=flip, desc="LFW embeddings")
    if flip:
        emb = emb[0] + emb[1]
    result = evaluate_lfw(emb, names, pairs_path)
    result["files"] = {"pairs": os.path.abspath(pairs_path), "images": os.path.abspath(data_root)}
    result["flip"] = bool(flip)
    result.update(extra or {})
    if out_json:
        json_path, png = write_result(out_json, result)
        log(f"wrote {json_path} and {png}")
    return result


def bin_set(net, preprocess, bin_path, out_json=None, batch_size=64, log=print, extra=None):
    """insightface .bin set: embed images and flips, accuracy with/without flip, VAL@FAR, XNorm."""
    try:
        images, issame = binsets.load_bin(bin_path)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    encoded = [_encode(img) for img in images]
    emb, emb_flip = extract(net, encoded, preprocess, batch_size, flip=True, desc=os.path.basename(bin_path))
    result = evaluate_bin(emb, emb_flip, np.asarray(issame))
    result["files"] = {"bin": os.path.abspath(bin_path)}
    result.update(extra or {})
    if out_json:
        json_path, png = write_result(out_json, result)
        log(f"wrote {json_path} and {png}")
    return result


def _encode(rgb):
    """Re-encode a decoded RGB image losslessly so the model's one preprocessing path decodes it."""
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return buf.tobytes()


def summary_lines(result):
    keys = ["accuracy_mean", "100%-EER", "TPR@FAR=1%", "TPR@FAR=0.1%", "TPR@FAR=0%", "auc"]
    return ", ".join(f"{k} {result[k] * 100:.2f}" for k in keys if k in result)


def blufr_folder(net, preprocess, data_root, config_path, out_json=None, batch_size=64, log=print, extra=None):
    """BLUFR on an LFW image folder (``name/name_%04d.jpg``) with the official config's 13,233 images."""
    from common.evaluate import evaluate_blufr
    from common.protocols import blufr

    try:
        cfg = blufr.load_config(config_path)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    rel = [os.path.join(n.rsplit("_", 1)[0], n) for n in cfg.image_list]
    missing = [r for r in rel if not os.path.isfile(os.path.join(data_root, r))]
    if missing:
        raise SystemExit(f"error: {config_path}: lists {len(missing)} image(s) missing under {data_root}, "
                         f"e.g. {missing[0]}")
    emb = extract(net, [os.path.join(data_root, r) for r in rel], preprocess, batch_size, desc="BLUFR embeddings")
    result = evaluate_blufr(emb, config_path, rel)
    result["files"] = {"config": os.path.abspath(config_path), "images": os.path.abspath(data_root)}
    result.update(extra or {})
    if out_json:
        json_path, png = write_result(out_json, result)
        log(f"wrote {json_path} and {png}")
    return result
