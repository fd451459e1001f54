"""Samplers: structure, determinism, rank disjointness and coverage, checked with plain set arithmetic."""
import numpy as np
import pytest

from common.data.samplers import ClassBalancedSampler, FlatSampler

# 9 identities with 1..9 images each, shuffled positions
LABELS = np.random.default_rng(0).permutation(np.repeat(np.arange(9), np.arange(1, 10)))


def _check_batch(batch, P, K):
    assert len(batch) == P * K
    labels = LABELS[batch].reshape(P, K)
    assert (labels == labels[:, :1]).all() and len(set(labels[:, 0])) == P
    for row, idx in zip(labels[:, 0], np.reshape(batch, (P, K))):
        members = set(np.flatnonzero(LABELS == row))
        assert set(idx) <= members
        assert len(set(idx)) == min(K, len(members))  # distinct when possible, all of a small identity
    return set(labels[:, 0])


@pytest.mark.parametrize("P, K, world", [(2, 4, 2), (3, 2, 1), (4, 3, 2)])
def test_class_balanced_structure_and_ranks(P, K, world):
    samplers = [ClassBalancedSampler(LABELS, P, K, rank=r, world=world, seed=7) for r in range(world)]
    assert all(len(s) == 9 // (P * world) for s in samplers)
    epochs = [[list(s) for s in samplers] for _ in range(6)]
    seen = set()
    for per_rank in epochs:
        ids = [_check_batch(b, P, K) for batches in per_rank for b in batches]
        assert len(set().union(*ids)) == sum(len(i) for i in ids) == len(samplers[0]) * P * world  # no repeats
        seen |= set().union(*ids)
    assert seen == set(range(9))  # every identity shows up within a few epochs


def test_class_balanced_deterministic():
    a = ClassBalancedSampler(LABELS, 2, 4, seed=1)
    first, second = list(a), list(a)
    b = ClassBalancedSampler(LABELS, 2, 4, seed=1)
    b.set_epoch(1)
    assert list(b) == second and first != second
    assert list(ClassBalancedSampler(LABELS, 2, 4, seed=2)) != first


def test_class_balanced_errors():
    with pytest.raises(ValueError, match="needs at least classes_per_batch \\* world = 10 identities"):
        ClassBalancedSampler(LABELS, 5, 2, rank=0, world=2)
    with pytest.raises(ValueError, match="rank must be in"):
        ClassBalancedSampler(LABELS, 2, 2, rank=2, world=2)


def test_flat_sampler_with_mindspore_generator_dataset():
    ds = pytest.importorskip("mindspore.dataset", reason="mindspore not installed")
    source = np.arange(len(LABELS), dtype=np.int32)
    flat = FlatSampler(ClassBalancedSampler(LABELS, 2, 3, seed=9))
    assert len(flat) == 4 * 6
    data = ds.GeneratorDataset([(np.array(i),) for i in source], ["idx"], sampler=flat).batch(6, drop_remainder=True)
    it = data.create_tuple_iterator(num_epochs=2, output_numpy=True)
    got = [[b[0].tolist() for b in it] for _ in range(2)]
    reference = ClassBalancedSampler(LABELS, 2, 3, seed=9)
    assert got == [list(reference), list(reference)]
