"""Mutual Likelihood Score: the training loss (MindSpore); pair scoring (numpy) lives in common/protocols/mls.py."""
import mindspore as ms
from mindspore import nn, ops

from common.protocols.mls import cosine_score, mls_score  # noqa: F401  (numpy scoring, shared with the C++ path)


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
