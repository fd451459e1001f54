"""P identities x K images per batch: the training input of metric losses (triplet, PFE's MLS).

The batch plan comes from :class:`common.data.samplers.ClassBalancedSampler` (identities permuted per
(seed, epoch), the same on every rank; within one epoch every identity is used at most once, on one rank
only, so ranks never share an identity in an epoch); the images are decoded and augmented by
:class:`common.data.dataset.ImageSource`, the same path as classification training (augmentation seeded by
(seed, epoch, image index), independent of worker scheduling). Each batch is ``P * K`` images, identity by
identity: rows ``[i * K, (i + 1) * K)`` share one label. An identity with fewer than K images repeats some.

A resumed run passes ``skip_batches`` (the batches of this epoch already trained) and gets exactly the
remaining batches of the same plan. An undecodable image is replaced by the next one in the epoch order
with ITS OWN label, so labels always match images (that batch then holds one image of another identity).

    data, steps = build_pk_epoch_dataset(paths, labels, preprocess, P=32, K=4, epoch=e, seed=0,
                                         rank=rank, world=world, skip_batches=0, workers=2)
    for images, labels in data.create_tuple_iterator(): ...   # (P*K, C, H, W) float32, (P*K,) int32
"""
import numpy as np

from common.data.dataset import EpochBatches, ImageSource, generator_dataset
from common.data.samplers import ClassBalancedSampler
from common.core.errors import FaceIdError


def pk_plan(labels, P, K, epoch, seed=0, rank=0, world=1):
    """Rank ``rank``'s batches of epoch ``epoch``: a list of index arrays of length P * K."""
    sampler = ClassBalancedSampler(labels, P, K, rank, world, seed)
    sampler.set_epoch(epoch)
    return [np.asarray(b, np.int64) for b in sampler]


def pk_steps(labels, P, K, world=1):
    """Batches per epoch and rank: identities // (P * world)."""
    return len(np.unique(np.asarray(labels))) // (int(P) * int(world))


def build_pk_epoch_dataset(paths, labels, preprocess, P, K, epoch, seed=0, rank=0, world=1, skip_batches=0,
                           workers=2, bad=None, processes=True):
    """MindSpore dataset of this rank's P x K batches of one epoch; returns (dataset, number of batches).

    ``bad`` is a shared :class:`common.data.dataset.BadImages` record (a new one if None). ``workers`` and
    ``processes`` change only the speed (see :class:`common.data.dataset.EpochBatches`).
    """
    if len(paths) != len(labels):
        raise ValueError(f"P x K dataset: {len(paths)} paths but {len(labels)} labels")
    try:
        plan = pk_plan(labels, P, K, epoch, seed, rank, world)
    except ValueError as exc:
        raise FaceIdError(f"training data: {exc}") from None
    if not plan:
        n = len(np.unique(np.asarray(labels)))
        raise FaceIdError(f"training data: {n} identities cannot fill one batch of P={P} identities "
                         f"on {world} rank(s) (need at least {P * world})")
    if not 0 <= skip_batches <= len(plan):
        raise ValueError(f"skip_batches must be in [0, {len(plan)}], got {skip_batches}")
    remaining = plan[skip_batches:]
    order = np.concatenate(remaining) if remaining else np.zeros(0, np.int64)
    source = ImageSource(paths, labels, preprocess, order, seed, epoch, bad)
    return generator_dataset(EpochBatches(source, int(P) * int(K), workers, processes)), len(remaining)
