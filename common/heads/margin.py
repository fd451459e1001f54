"""Margin softmax head: logits s*(cos(m1*theta + m2) - m3) on the target class, s*cos(theta) elsewhere.

theta is the angle between the L2-normalised embedding and the L2-normalised class centre
(weight (num_classes, D), normal init std 0.01). m2 > 0 is ArcFace, m3 > 0 CosFace/LMCL, m1 > 1 a
SphereFace-style multiplicative margin, m1=1, m2=m3=0 plain normalised softmax (NormFace).

Beyond ``theta_t = min((pi - m2) / m1, pi)`` the target logit cos(m1*theta + m2) would rise again
with theta. There this head uses the monotonic extension ``cos(theta) - (1 + cos(theta_t))``: it
equals the margin value -1 at theta_t (continuous) and keeps decreasing with theta (no "easy margin",
unlike insightface's discontinuous ``cos(theta) - m*sin(m)`` fallback). All margin math is float32;
cos is clipped to +-(1 - 1e-6) before arccos so gradients stay finite.
"""
import math

from mindspore import Parameter, Tensor, nn, ops
from mindspore import dtype as mstype
from mindspore.common.initializer import Normal, initializer

from common.core.registry import Registry

HEADS = Registry("head")
COS_CLIP = 1.0 - 1e-6


def l2_normalize(x):
    """Rows of ``x`` to unit length: x / sqrt(max(|x|^2, 1e-24)) (= ops.L2Normalize with epsilon 1e-12).

    Written out because MindSpore 2.10's CPU backward of ``ops.L2Normalize`` is pathologically slow on a class-centre
    matrix: over 100 s per step for 10,000 x 512 against 0.18 s for this form (bench/run_all.py train steps)."""
    return x / ops.sqrt(ops.maximum((x * x).sum(axis=1, keepdims=True), 1e-24))


class MarginHead(nn.Cell):
    """Combined-margin head; ``construct(embedding (N, D), label (N,) int)`` -> float32 logits (N, C)."""

    def __init__(self, embedding_size, num_classes, s=64.0, m1=1.0, m2=0.5, m3=0.0):
        super().__init__()
        if m1 <= 0 or s <= 0 or not 0 <= m2 < math.pi:
            raise ValueError(f"MarginHead: need s > 0, m1 > 0, 0 <= m2 < pi; got s={s} m1={m1} m2={m2}")
        self.embedding_size, self.num_classes = int(embedding_size), int(num_classes)
        self.s, self.m1, self.m2, self.m3 = float(s), float(m1), float(m2), float(m3)
        self.weight = Parameter(initializer(Normal(0.01), (self.num_classes, self.embedding_size), mstype.float32),
                                name="weight")
        self.theta_t = min((math.pi - self.m2) / self.m1, math.pi)
        self.shift = 1.0 + math.cos(self.theta_t)
        self.gemm_fp16 = False  # common.train.amp.set_head_fp16: the cosine GEMM in fp16, logits float32

    def cosine(self, x, w):
        """(N, D) x (K, D) unit rows -> float32 (N, K) cosines; the GEMM in fp16 when ``gemm_fp16``."""
        if self.gemm_fp16:
            return ops.matmul(x.astype(mstype.float16), w.astype(mstype.float16).T).astype(mstype.float32)
        return ops.matmul(x, w.T)

    def construct(self, embedding, label):
        x = l2_normalize(embedding.astype(mstype.float32))
        w = l2_normalize(self.weight)
        cos = self.cosine(x, w)
        one_hot = ops.one_hot(label.astype(mstype.int32), self.num_classes,
                              Tensor(1.0, mstype.float32), Tensor(0.0, mstype.float32))
        return self.margin_logits(cos, one_hot)

    def margin_logits(self, cos, one_hot):
        """cos (N, K) and a float one-hot target mask (N, K) -> the margin logits; a row without a 1 (its class
        is elsewhere, as in common.heads.partial_fc's shards) gets s*cos only."""
        cos_t = ops.clamp((cos * one_hot).sum(axis=1), -COS_CLIP, COS_CLIP)
        theta = ops.acos(cos_t)
        margin = ops.cos(self.m1 * theta + self.m2)
        target = ops.where(theta <= self.theta_t, margin, cos_t - self.shift) - self.m3
        return self.s * (cos + one_hot * (target - cos_t).expand_dims(1))

    @classmethod
    def arcface(cls, embedding_size, num_classes, s=64.0, m=0.5):
        """ArcFace: s=64, additive angular margin m2=0.5."""
        return cls(embedding_size, num_classes, s=s, m2=m)

    @classmethod
    def cosface(cls, embedding_size, num_classes, s=32.0, m=0.40):
        """CosFace / LMCL: s=32, additive cosine margin m3=0.40 (the MindSpore CosFace recipe)."""
        return cls(embedding_size, num_classes, s=s, m2=0.0, m3=m)

    @classmethod
    def softmax(cls, embedding_size, num_classes, s=64.0):
        """Normalised softmax (NormFace): no margin, scale s."""
        return cls(embedding_size, num_classes, s=s, m2=0.0)


class LinearHead(nn.Cell):
    """Plain fully connected classifier (weight + bias, no normalisation, no margin): the old MindSpore zoo's
    LResNet100E-IR recipe (Dense + SoftmaxCrossEntropyWithLogits). ``construct(embedding, label)`` -> logits."""

    def __init__(self, embedding_size, num_classes):
        super().__init__()
        self.embedding_size, self.num_classes = int(embedding_size), int(num_classes)
        self.weight = Parameter(initializer(Normal(0.01), (self.num_classes, self.embedding_size), mstype.float32),
                                name="weight")
        self.bias = Parameter(initializer("zeros", (self.num_classes,), mstype.float32), name="bias")

    def construct(self, embedding, label):
        return ops.matmul(embedding.astype(mstype.float32), self.weight.T) + self.bias


HEADS.register("linear")(LinearHead)
HEADS.register("margin")(MarginHead)
HEADS.register("arcface")(MarginHead.arcface)
HEADS.register("cosface")(MarginHead.cosface)
HEADS.register("softmax")(MarginHead.softmax)


def create_head(name, embedding_size, num_classes, **kwargs):
    """Build the head registered as ``name`` (margin, arcface, cosface, softmax, linear)."""
    return HEADS.create(name, embedding_size=embedding_size, num_classes=num_classes, **kwargs)
