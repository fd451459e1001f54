"""Partial FC: the margin head's class centres sharded over the ranks (An et al., CVPR 2022; insightface's
arcface_torch ``PartialFC_V2``), for heads too large to replicate.

YAML of any margin model (common.recipes.margin, so CosFace, ArcFace and PFE's base)::

    head_parallel: true     # rank r of W holds classes [start_r, start_r + count_r) (C/W each, remainder first)
    sample_rate: 0.3        # optional: per step each rank keeps all positive centres + random negatives (1.0: exact)

One step on rank r (B local images, G = W*B in the global batch):
1. embeddings (B, D) and labels are all-gathered -> (G, D), (G,) (``AllGather``);
2. the local logits (G, count_r) use the head's own margin formula (``MarginHead.margin_logits``) against the
   local (or sampled) centres; a row whose class lives on another rank gets plain s*cos;
3. softmax cross-entropy over all C classes: the row max and the exp-sum and the target logit are combined
   across ranks (``AllReduce``; on CPU, whose mccl all-reduce only sums, the row max is an ``AllGather`` of the
   local maxima); the loss is the global-batch mean, the same number on every rank;
4. backward: the softmax gradient is local (the combined sums enter as constants plus the local part), the
   embeddings' gradient is summed over ranks and each rank keeps its own rows (the all-gather's backward: a
   ``ReduceScatter``, on CPU an ``AllReduce`` and a slice) and is multiplied by W, because data parallel then
   averages the backbone's gradients over the W ranks.
The head shard is a ``layerwise_parallel`` parameter: MindSpore's ``DistributedGradReducer`` (inside every
``TrainOneStepCell``) leaves its gradient alone, so each rank updates its own centres and their momentum.

With ``sample_rate`` r < 1 each rank keeps ``max(ceil(r * count_r), G)`` centres (capped at count_r), positives
first, the rest drawn at random each step; the other centres get a zero gradient that step (their momentum and
weight decay still act, as in arcface_torch). Checkpoints of the shards: ``common.heads.shards``.
"""
import math

import numpy as np
from mindspore import Tensor, nn, ops
from mindspore import dtype as mstype

from common.core.errors import FaceIdError
from common.heads.margin import l2_normalize


def class_range(num_classes, world, rank):
    """(start, count) of rank ``rank``'s classes: C // W each, the first C % W ranks one more."""
    base, extra = divmod(int(num_classes), int(world))
    return base * rank + min(rank, extra), base + (1 if rank < extra else 0)


def num_sampled(count, sample_rate, global_batch):
    """Centres a rank uses per step: all at rate 1; else ceil(rate * count), never fewer than the global batch
    (so every positive fits), never more than ``count``."""
    if sample_rate >= 1.0:
        return int(count)
    return int(min(count, max(math.ceil(sample_rate * count), global_batch)))


def rank_world():
    """(rank, world) of the initialised collective backend, (0, 1) without one."""
    from mindspore.communication import get_group_size, get_rank
    from mindspore.communication.management import GlobalComm

    if not GlobalComm.INITED:
        return 0, 1
    return get_rank(), get_group_size()


def _device():
    import mindspore as ms

    return ms.get_context("device_target")


class _GatherRows(nn.Cell):
    """AllGather along axis 0; backward: the gradient summed over ranks, this rank's rows, times ``scale``."""

    def __init__(self, rank, rows, scale, cpu):
        super().__init__()
        self.gather = ops.AllGather()
        self.cpu = cpu
        self.lo, self.hi, self.scale = rank * rows, (rank + 1) * rows, float(scale)
        if cpu:  # mccl has no ReduceScatter: all-reduce, then take this rank's rows
            self.reduce = ops.AllReduce()
        else:
            self.reduce = ops.ReduceScatter(ops.ReduceOp.SUM)

    def construct(self, x):
        return self.gather(x)

    def bprop(self, x, out, dout):
        if self.cpu:
            return (self.reduce(dout)[self.lo:self.hi] * self.scale,)
        return (self.reduce(dout) * self.scale,)


class _GatherConst(nn.Cell):
    """AllGather of values that need no gradient (labels, row maxima)."""

    def __init__(self):
        super().__init__()
        self.gather = ops.AllGather()

    def construct(self, x):
        return self.gather(x)

    def bprop(self, x, out, dout):
        return (ops.zeros_like(x),)


class PartialFCClassifier(nn.Cell):
    """``construct(images, labels)`` -> softmax cross-entropy of the margin logits over all ``num_classes``,
    averaged over the global batch; ``head`` is a ``common.heads.margin.MarginHead`` built for this rank's
    ``class_range`` (its ``weight`` is the shard). ``batch_size`` is the per-rank batch (fixes the gather size).
    ``rank``/``world`` default to the initialised backend's."""

    def __init__(self, backbone, head, num_classes, batch_size, sample_rate=1.0, rank=None, world=None, seed=0):
        super().__init__()
        if rank is None or world is None:
            rank, world = rank_world()
        if not hasattr(head, "margin_logits"):
            raise FaceIdError(f"head_parallel: needs a margin head (arcface, cosface, softmax, margin), not "
                              f"{type(head).__name__}")
        self.backbone, self.head = backbone, head
        self.rank, self.world, self.num_classes = int(rank), int(world), int(num_classes)
        self.start, self.count = class_range(num_classes, world, rank)
        if head.num_classes != self.count:
            raise FaceIdError(f"head_parallel: the head holds {head.num_classes} centres but rank {rank} of {world} "
                              f"owns {self.count} of {num_classes} classes")
        if not 0.0 < float(sample_rate) <= 1.0:
            raise FaceIdError(f"sample_rate: must be in (0, 1], got {sample_rate}")
        self.sample_rate = float(sample_rate)
        self.global_batch = int(batch_size) * self.world
        self.num_sample = num_sampled(self.count, self.sample_rate, self.global_batch)
        self.sampling = self.num_sample < self.count
        head.weight.layerwise_parallel = True  # its gradient is this rank's own: never averaged over ranks
        self.class_ids = Tensor(np.arange(self.start, self.start + self.count, dtype=np.int32))
        self.uniform = ops.UniformReal(seed=int(seed), seed2=1000 + self.rank)
        cpu = _device() == "CPU"
        self.cpu_max = cpu
        if self.world > 1:
            self.gather_emb = _GatherRows(self.rank, int(batch_size), self.world, cpu)
            self.gather_const = _GatherConst()
            self.all_sum = ops.AllReduce()
            if not cpu:
                self.all_max = ops.AllReduce(ops.ReduceOp.MAX)

    def meta(self):
        """The shard's place in the full head (written beside it in checkpoints)."""
        return {"class_start": self.start, "class_count": self.count, "num_classes": self.num_classes,
                "rank": self.rank, "world": self.world}

    def sample(self, labels):
        """(num_sample,) int32 indices of this rank's centres used this step: every positive of ``labels`` (the
        global batch's) that falls in the shard, then random negatives."""
        local = labels.astype(mstype.int32) - self.start
        inside = ops.logical_and(local >= 0, local < self.count)
        slot = ops.where(inside, local, ops.full_like(local, self.count))
        hits = ops.unsorted_segment_sum(ops.ones(local.shape, mstype.float32), slot, self.count + 1)
        positive = ops.cast(hits[:self.count] > 0, mstype.float32)
        score = self.uniform((self.count,)) + 2.0 * positive
        _, index = ops.topk(score, self.num_sample)
        return index.astype(mstype.int32)

    def _sum(self, value):
        """All-reduced sum whose gradient is the local part's only."""
        if self.world == 1:
            return value
        return value + ops.stop_gradient(self.all_sum(ops.stop_gradient(value)) - value)

    def _row_max(self, logits):
        top = ops.stop_gradient(logits.max(axis=1))
        if self.world == 1:
            return top
        if self.cpu_max:  # mccl's AllReduce only sums
            return ops.stop_gradient(self.gather_const(top).reshape(self.world, -1).max(axis=0))
        return ops.stop_gradient(self.all_max(top))

    def construct(self, images, labels):
        emb = self.backbone(images).astype(mstype.float32)
        labels = labels.astype(mstype.int32)
        if self.world > 1:
            emb = self.gather_emb(emb)
            labels = self.gather_const(labels)
        weight, ids = self.head.weight, self.class_ids
        if self.sampling:
            index = self.sample(labels)
            weight, ids = ops.gather(weight, index, 0), ops.gather(ids, index, 0)
        one_hot = ops.cast(labels.expand_dims(1) == ids.expand_dims(0), mstype.float32)
        cos = self.head.cosine(l2_normalize(emb), l2_normalize(weight))
        logits = self.head.margin_logits(cos, one_hot)
        top = self._row_max(logits)
        exp_sum = self._sum(ops.exp(logits - top.expand_dims(1)).sum(axis=1))
        target = self._sum((logits * one_hot).sum(axis=1))
        return (ops.log(exp_sum) + top - target).mean()


def local_classes(cfg, num_classes):
    """Rows of this rank's head: all ``num_classes`` unless ``head_parallel``, then its shard's."""
    if not cfg.get("head_parallel"):
        return int(num_classes)
    rank, world = rank_world()
    return class_range(num_classes, world, rank)[1]


def classifier(cfg, backbone, head, num_classes):
    """The config's ``PartialFCClassifier`` (``sample_rate``, default 1.0; ``batch_size`` per rank)."""
    rate = cfg.get("sample_rate", 1.0)
    try:
        rate = float(1.0 if rate is None else rate)
    except (TypeError, ValueError):
        raise FaceIdError(f"sample_rate: must be a number in (0, 1], got {rate!r}") from None
    return PartialFCClassifier(backbone, head, num_classes, int(cfg.batch_size), rate, seed=int(cfg.get("seed", 0)))
