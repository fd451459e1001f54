"""Triplet loss with online mining inside a P identities x K images batch (FaceNet, Schroff et al. 2015).

Embeddings are L2-normalised first (``normalize=True``), then pairwise distances are computed as
``d2 = max(|a|^2 + |b|^2 - 2ab, 0)``; with ``squared=False`` the distance is ``sqrt(d2 + eps)``, so the
gradient stays finite at zero distance. Per triplet the hinge is ``max(d(a,p) - d(a,n) + margin, 0)``.

Mining rules (``mining``):
- ``"batch_hard"`` (Hermans et al. 2017): per anchor, its farthest positive and its nearest negative; mean over
  anchors that have at least one positive and one negative.
- ``"semi_hard"`` (TF-addons ``triplet_semihard_loss``): per positive pair (a, p), the nearest negative with
  d(a,n) > d(a,p) (a semi-hard one when it also lies within d(a,p) + margin, otherwise its hinge is 0); when no
  negative is farther than the positive, the farthest negative of the anchor. Mean over all positive pairs
  whose anchor has a negative. Builds an (N, N, N) mask: fine for FaceNet batch sizes (N of a few hundred).
``with_fraction=True`` makes ``construct`` return ``(loss, fraction of counted triplets with a positive hinge)``.
"""
import mindspore as ms
from mindspore import nn, ops

MINING = ("batch_hard", "semi_hard")
_BIG = 1e9


class TripletLoss(nn.Cell):
    """``construct(embeddings (N, D) float32, labels (N,) int) -> scalar loss`` (or ``(loss, fraction)``)."""

    def __init__(self, margin=0.2, mining="semi_hard", squared=True, normalize=True, eps=1e-12,
                 with_fraction=False):
        super().__init__()
        if mining not in MINING:
            raise ValueError(f"TripletLoss: unknown mining '{mining}'; known: {', '.join(MINING)}")
        self.margin = float(margin)
        self.semi_hard = mining == "semi_hard"
        self.squared = squared
        self.normalize = normalize
        self.eps = eps
        self.with_fraction = with_fraction

    def distances(self, x):
        """Pairwise (squared unless ``squared=False``) Euclidean distances, (N, N)."""
        if self.normalize:
            x = x / ops.sqrt(ops.maximum((x * x).sum(axis=1, keepdims=True), 1e-24))
        sq = (x * x).sum(axis=1)
        d2 = ops.maximum(sq.reshape(-1, 1) + sq.reshape(1, -1) - 2.0 * ops.matmul(x, x.T), 0.0)
        if self.squared:
            return d2
        return ops.sqrt(d2 + self.eps)

    def construct(self, embeddings, labels):
        d = self.distances(embeddings)
        n = d.shape[0]
        labels = labels.reshape(-1)
        same = ops.equal(labels.reshape(-1, 1), labels.reshape(1, -1))
        not_eye = ops.logical_not(ops.eye(n, n, ms.bool_))
        pos = ops.logical_and(same, not_eye).astype(ms.float32)
        neg = ops.logical_not(same).astype(ms.float32)
        has_neg = (neg.sum(axis=1) > 0).astype(ms.float32)
        far_neg = (d * neg).max(axis=1)  # d >= 0, so masked-out entries (0) never win when a negative exists
        if self.semi_hard:
            # cand[a, p, n]: n is a negative of a and farther from a than p is
            cand = ops.logical_and(neg.reshape(n, 1, n) > 0, d.reshape(n, 1, n) > d.reshape(n, n, 1))
            candf = cand.astype(ms.float32)
            near_outside = (d.reshape(n, 1, n) + (1.0 - candf) * _BIG).min(axis=2)
            chosen = ops.select(candf.sum(axis=2) > 0, near_outside, ops.broadcast_to(far_neg.reshape(-1, 1), (n, n)))
            hinge = ops.relu(d - chosen + self.margin)
            valid = pos * has_neg.reshape(-1, 1)
        else:
            hardest_pos = (d * pos).max(axis=1)
            nearest_neg = (d + (1.0 - neg) * _BIG).min(axis=1)
            hinge = ops.relu(hardest_pos - nearest_neg + self.margin)
            valid = (pos.sum(axis=1) > 0).astype(ms.float32) * has_neg
        count = ops.maximum(valid.sum(), 1.0)
        loss = (hinge * valid).sum() / count
        if self.with_fraction:
            return loss, ((hinge > 0).astype(ms.float32) * valid).sum() / count
        return loss
