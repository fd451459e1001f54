"""P x K index samplers, numpy only, deterministic given (seed, epoch), split by rank.

(Sharding of plain per-sample epochs lives in one place: ``common.data.dataset.epoch_indices``.)

Every sampler draws its epoch-``e`` order from ``numpy.random.default_rng([seed, e])``, identical on all ranks, so
ranks agree on the split without talking. ``set_epoch(e)`` picks the epoch of the next pass; each ``iter()`` uses
the current epoch and then advances it by one, so a pipeline that re-iterates the sampler every epoch without
calling ``set_epoch`` (MindSpore does) still gets a new order per epoch.

With MindSpore: ``GeneratorDataset(source, column_names, sampler=...)`` takes any iterable of indices as
``sampler=`` (do not also pass ``shuffle``/``num_shards``). For P x K batches pass
``sampler=FlatSampler(ClassBalancedSampler(...))`` and ``.batch(P * K, drop_remainder=True)``; each batch is then
one P x K group, K consecutive images per identity.
"""
import numpy as np


def _check_rank(rank, world):
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank must be in [0, world) with world >= 1, got rank={rank}, world={world}")


class _Epoch:
    seed = 0
    epoch = 0

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def _next_rng(self, *extra):
        rng = np.random.default_rng([self.seed, self.epoch, *extra])
        self.epoch += 1
        return rng


class ClassBalancedSampler(_Epoch):
    """Batches of ``classes_per_batch`` (P) identities x ``images_per_class`` (K) images, as flat index lists.

    Each epoch the identities are permuted once (same on all ranks); batch step ``s`` of rank ``r`` takes
    identities ``[(s * world + r) * P, ... + P)`` of that permutation, so within a step ranks see different
    identities. An epoch is ``num_classes // (P * world)`` batches (the remainder waits for a later epoch).
    An identity with at least K images gives K distinct ones; one with fewer gives all of them plus draws with
    replacement up to K.
    """

    def __init__(self, labels, classes_per_batch, images_per_class, rank=0, world=1, seed=0):
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.size == 0:
            raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
        _check_rank(rank, world)
        self.P, self.K = int(classes_per_batch), int(images_per_class)
        if self.P < 1 or self.K < 1:
            raise ValueError(f"classes_per_batch and images_per_class must be >= 1, got {self.P}, {self.K}")
        order = np.argsort(labels, kind="stable")
        self.classes, starts = np.unique(labels[order], return_index=True)
        self.members = np.split(order, starts[1:])
        if len(self.classes) < self.P * world:
            raise ValueError(f"ClassBalancedSampler needs at least classes_per_batch * world = {self.P * world} "
                             f"identities, the labels have {len(self.classes)}")
        self.rank, self.world, self.seed = rank, world, int(seed)

    @property
    def batch_size(self):
        return self.P * self.K

    def __len__(self):
        return len(self.classes) // (self.P * self.world)

    def _pick(self, members, rng):
        if len(members) >= self.K:
            return rng.choice(members, self.K, replace=False)
        extra = rng.choice(members, self.K - len(members), replace=True)
        return rng.permutation(np.concatenate([members, extra]))

    def __iter__(self):
        epoch = self.epoch
        class_order = self._next_rng().permutation(len(self.classes))
        image_rng = np.random.default_rng([self.seed, epoch, 1 + self.rank])
        for step in range(len(self)):
            start = (step * self.world + self.rank) * self.P
            picked = [self._pick(self.members[c], image_rng) for c in class_order[start:start + self.P]]
            yield np.concatenate(picked).tolist()


class FlatSampler:
    """The indices of a batch sampler one by one (for ``GeneratorDataset(sampler=...)`` + ``.batch(batch_size)``)."""

    def __init__(self, batch_sampler):
        self.batch_sampler = batch_sampler

    def set_epoch(self, epoch):
        self.batch_sampler.set_epoch(epoch)

    def __len__(self):
        return len(self.batch_sampler) * self.batch_sampler.batch_size

    def __iter__(self):
        for batch in self.batch_sampler:
            yield from batch
