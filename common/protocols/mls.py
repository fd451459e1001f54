"""Mutual Likelihood Score (PFE, Shi & Jain 2019) and cosine on (mu, sigma^2) pairs: pure numpy.

``score_lfw_pairs`` is PFE's LFW scoring (cosine of mu and MLS side by side through the 10-fold protocol and the
ROC metrics), shared by ``pfe`` eval and the C++ path's postprocess (``common/deploy/infer310_post.py``).
"""
import numpy as np

from common.core.errors import FaceIdError


def _pair_arrays(name, *arrays):
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    shape = arrays[0].shape
    if arrays[0].ndim != 2 or any(a.shape != shape for a in arrays):
        raise ValueError(f"{name}: expected equal 2-D (pairs, dim) arrays, got shapes "
                         f"{[a.shape for a in arrays]}")
    return arrays


def mls_score(mu1, sigma_sq1, mu2, sigma_sq2):
    """MLS of row-aligned pairs: -(sum_d (mu1-mu2)^2/(s1+s2) + log(s1+s2)); (P,) float64, higher = same."""
    mu1, sigma_sq1, mu2, sigma_sq2 = _pair_arrays("mls_score", mu1, sigma_sq1, mu2, sigma_sq2)
    if (sigma_sq1 <= 0).any() or (sigma_sq2 <= 0).any():
        raise ValueError("mls_score: sigma_sq must be positive (pass sigma^2, not log sigma^2)")
    fused = sigma_sq1 + sigma_sq2
    return -np.sum((mu1 - mu2) ** 2 / fused + np.log(fused), axis=1)


def cosine_score(mu1, mu2):
    """Cosine similarity of row-aligned pairs, (P,) float64: the baseline that ignores sigma."""
    mu1, mu2 = _pair_arrays("cosine_score", mu1, mu2)
    norms = np.linalg.norm(mu1, axis=1) * np.linalg.norm(mu2, axis=1)
    return np.sum(mu1 * mu2, axis=1) / np.maximum(norms, 1e-12)


def pair_scores(mu, sigma_sq, rows):
    """{'cosine': cosine of mu, 'mls': mutual likelihood score} for each (row_a, row_b) of ``rows``."""
    from common.protocols import lfw

    a, b = rows[:, 0], rows[:, 1]
    return {"cosine": lfw.cosine_scores(mu, rows), "mls": mls_score(mu[a], sigma_sq[a], mu[b], sigma_sq[b])}


def score_lfw_pairs(mu, sigma_sq, names, pairs_path):
    """Both scores through the LFW 10-fold protocol and the ROC metrics: one dict with 'cosine' and 'mls'.

    ``names[i]`` is the pairs-file name (``person/person_0001.jpg``) of row i of ``mu`` and ``sigma_sq``."""
    from common.protocols import lfw
    from common.protocols.roc import roc_metrics

    from common.protocols.sanity import check_finite

    try:
        pairs = lfw.read_pairs(pairs_path)
        rows = lfw.pair_indices(names, pairs, pairs_path)
    except ValueError as exc:
        raise FaceIdError(str(exc)) from None
    check_finite(mu, "mu", rows, names)           # NaN / inf refused naming the rows, as on every path
    check_finite(sigma_sq, "sigma_sq", rows, names)
    out = {"protocol": "lfw", "pairs": len(rows), "images": len(names), "embedding_dim": int(mu.shape[1]),
           "mean_sigma_sq": float(np.mean(sigma_sq)), "roc": {}}
    for name, scores in pair_scores(mu, sigma_sq, rows).items():
        metrics, curve = roc_metrics(scores, pairs.issame)
        out[name] = dict(lfw.kfold_accuracy(scores, pairs.issame, pairs.fold), **metrics)
        out["roc"][f"{name} ({out[name]['accuracy_mean'] * 100:.2f}%)"] = curve
    return out
