"""P x K training dataset: the real MindSpore batches checked image by image.

Every image is a flat gray PNG whose value is its own index, so a batch tells which files it holds; the
checks (structure, ranks, determinism, resume, bad files) are plain set arithmetic on those indices.
"""
import cv2
import numpy as np
import pytest

from common.data.dataset import BadImages
from common.data.pk_dataset import build_pk_epoch_dataset, pk_plan, pk_steps
from common.data.transforms import Preprocess
from common.core.errors import FaceIdError

# 10 identities with 1..10 images each (55 images), file order shuffled
LABELS = np.random.default_rng(3).permutation(np.repeat(np.arange(10), np.arange(1, 11)))
PRE = Preprocess(channels=1, resize=None, crop=[6, 6], mean=0.0, std=1.0, flip=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("pk")
    paths = []
    for i in range(len(LABELS)):
        p = str(root / f"{i:03d}.png")
        cv2.imwrite(p, np.full((6, 6), i, np.uint8))
        paths.append(p)
    return paths


def batches(files, P, K, epoch=0, seed=0, rank=0, world=1, skip=0, labels=LABELS, bad=None):
    """(file index, label) arrays of every batch MindSpore yields, and the step count returned."""
    data, steps = build_pk_epoch_dataset(files, labels, PRE, P, K, epoch, seed, rank, world, skip, 1, bad)
    out = []
    for images, lab in data.create_tuple_iterator(output_numpy=True):
        assert images.shape == (P * K, 1, 6, 6) and images.dtype == np.float32
        assert (images == images[:, :, :1, :1]).all()  # flat images survive flips untouched
        out.append((images[:, 0, 0, 0].round().astype(int), lab.astype(int)))
    return out, steps


@pytest.mark.parametrize("P, K", [(3, 4), (2, 2), (5, 1)])
def test_batches_are_p_identities_by_k_images(files, P, K):
    got, steps = batches(files, P, K, seed=11)
    assert steps == len(got) == 10 // P == pk_steps(LABELS, P, K)
    used = set()
    for idx, lab in got:
        np.testing.assert_array_equal(lab, LABELS[idx])            # each label belongs to its image
        rows, ids = lab.reshape(P, K), idx.reshape(P, K)
        assert (rows == rows[:, :1]).all() and len(set(rows[:, 0])) == P
        for row, members in zip(rows[:, 0], ids):
            size = int(np.sum(LABELS == row))
            assert len(set(members)) == min(K, size)              # distinct images when the identity has K
        assert not used & set(rows[:, 0])                           # an identity once per epoch
        used |= set(rows[:, 0])


def test_ranks_hold_disjoint_identities(files):
    world, P, K = 2, 2, 3
    per_rank = [batches(files, P, K, epoch=1, seed=5, rank=r, world=world)[0] for r in range(world)]
    ids = [set(np.concatenate([lab for _, lab in b])) for b in per_rank]
    assert all(len(b) == 10 // (P * world) for b in per_rank)
    assert not ids[0] & ids[1] and len(ids[0]) == len(ids[1]) == P * (10 // (P * world))


def test_deterministic_per_seed_and_epoch(files):
    a, _ = batches(files, 3, 2, epoch=2, seed=1)
    b, _ = batches(files, 3, 2, epoch=2, seed=1)
    c, _ = batches(files, 3, 2, epoch=3, seed=1)
    d, _ = batches(files, 3, 2, epoch=2, seed=2)
    flat = [np.concatenate([i for i, _ in x]).tolist() for x in (a, b, c, d)]
    assert flat[0] == flat[1] and flat[0] != flat[2] and flat[0] != flat[3]
    plan = np.concatenate(pk_plan(LABELS, 3, 2, epoch=2, seed=1)).tolist()
    assert flat[0] == plan                                          # the dataset follows the sampler's plan


@pytest.mark.parametrize("skip", [1, 2])
def test_resume_skips_trained_batches(files, skip):
    full, steps = batches(files, 3, 3, epoch=4, seed=9)
    rest, rest_steps = batches(files, 3, 3, epoch=4, seed=9, skip=skip)
    assert rest_steps == steps - skip == len(rest)
    for (i, lab), (j, lab2) in zip(full[skip:], rest):
        np.testing.assert_array_equal(i, j)
        np.testing.assert_array_equal(lab, lab2)


def test_undecodable_image_is_replaced_with_its_own_label(files, tmp_path):
    broken = list(files)
    victim = int(np.flatnonzero(LABELS == 9)[0])                    # identity 9 has 10 images: K=4 picks some
    broken[victim] = str(tmp_path / "broken.jpg")
    with open(broken[victim], "wb") as f:
        f.write(b"not an image")
    bad = BadImages()
    got = []
    for epoch in range(4):                                          # until the broken file is drawn
        out, _ = batches(broken, 2, 4, epoch=epoch, seed=0, bad=bad)
        got += out
        if len(bad):
            break
    assert list(bad.files) == [broken[victim]]
    for idx, lab in got:
        assert victim not in idx
        np.testing.assert_array_equal(lab, LABELS[idx])


def test_too_few_identities_is_one_clear_error(files):
    with pytest.raises(FaceIdError, match="identities"):
        build_pk_epoch_dataset(files, LABELS, PRE, 6, 2, 0, world=2)
    with pytest.raises(ValueError, match="55 paths but 3 labels"):
        build_pk_epoch_dataset(files, LABELS[:3], PRE, 2, 2, 0)
