"""Mutual Likelihood Score: the training loss (MindSpore) and pair scoring (numpy)."""
import numpy as np
import mindspore as ms
from mindspore import nn, ops


class MLSLoss(nn.Cell):
    """Mean negative MLS over the genuine pairs of a batch, each unordered pair (i < j) once.

    ``construct(mu (N, D), log_sigma_sq (N, D), labels (N,)) -> scalar``; for a genuine pair
    ``sum_d (mu_i - mu_j)^2 / (s_i + s_j) + log(s_i + s_j)`` with ``s = exp(log_sigma_sq)``.
    Only the genuine pairs are gathered (not an (N, N, D) tensor): 384 rows for a 64x4 batch.
    A batch without genuine pairs gives 0. Counting ordered pairs, as the official TF code does,
    doubles the work but gives the same mean.
    """

    def genuine_pair_mask(self, labels):
        """(N, N) bool: True where i < j and labels[i] == labels[j]."""
        idx = ops.arange(labels.shape[0])
        upper = ops.expand_dims(idx, 1) < ops.expand_dims(idx, 0)
        same = ops.expand_dims(labels, 1) == ops.expand_dims(labels, 0)
        return ops.logical_and(upper, same)

    def construct(self, mu, log_sigma_sq, labels):
        mask = self.genuine_pair_mask(labels)
        # (0, 0) is added with weight 0 so the gathered set is never empty (empty gathers fail in backprop)
        idx = ops.arange(labels.shape[0])
        first = ops.logical_and(ops.expand_dims(idx, 1) == 0, ops.expand_dims(idx, 0) == 0)
        pairs = ops.nonzero(ops.logical_or(mask, first))
        i, j = pairs[:, 0], pairs[:, 1]
        weight = (i < j).astype(ms.float32)
        sigma_sq = ops.exp(log_sigma_sq)
        fused = ops.gather(sigma_sq, i, 0) + ops.gather(sigma_sq, j, 0)
        diff = ops.gather(mu, i, 0) - ops.gather(mu, j, 0)
        pair_loss = (diff * diff / fused + ops.log(fused)).sum(axis=1)
        return (weight * pair_loss).sum() / ops.maximum(weight.sum(), 1.0)


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
