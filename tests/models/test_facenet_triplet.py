"""Triplet loss mining rules against brute-force numpy loops; finite gradient at zero distance; graph mode."""
import numpy as np
import pytest

import mindspore as ms

from facenet.src.triplet import TripletLoss
from common.core.env import set_device  # noqa: E402

set_device("CPU")


def brute_force(emb, labels, margin, mining, squared, normalize=True):
    """Loop over every anchor / positive / negative; returns (mean hinge, fraction of hinges > 0)."""
    e = emb.astype(np.float64)
    if normalize:
        e = e / np.linalg.norm(e, axis=1, keepdims=True)
    n = len(e)
    d = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            d[i, j] = np.sum((e[i] - e[j]) ** 2)
    if not squared:
        d = np.sqrt(d)
    hinges = []
    for a in range(n):
        positives = [p for p in range(n) if p != a and labels[p] == labels[a]]
        negatives = [k for k in range(n) if labels[k] != labels[a]]
        if not positives or not negatives:
            continue
        if mining == "batch_hard":
            hinges.append(max(max(d[a, p] for p in positives) - min(d[a, k] for k in negatives) + margin, 0.0))
            continue
        for p in positives:
            farther = [d[a, k] for k in negatives if d[a, k] > d[a, p]]
            d_an = min(farther) if farther else max(d[a, k] for k in negatives)
            hinges.append(max(d[a, p] - d_an + margin, 0.0))
    hinges = np.array(hinges)
    return hinges.mean(), (hinges > 0).mean()


LABEL_SETS = {
    "PxK": np.repeat(np.arange(4), 3),
    "shuffled": np.random.default_rng(5).permutation(np.repeat(np.arange(5), 2)),
    "singleton": np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3]),  # label 3 has no positive
}


@pytest.mark.parametrize("mining", ["batch_hard", "semi_hard"])
@pytest.mark.parametrize("squared", [True, False])
@pytest.mark.parametrize("labels_name", sorted(LABEL_SETS))
@pytest.mark.parametrize("margin", [0.2, 0.8])
def test_matches_brute_force(mining, squared, labels_name, margin):
    labels = LABEL_SETS[labels_name].astype(np.int32)
    rng = np.random.default_rng(len(labels_name) + int(10 * margin))
    emb = rng.standard_normal((len(labels), 6)).astype(np.float32) * 3.0
    loss_fn = TripletLoss(margin=margin, mining=mining, squared=squared, with_fraction=True)
    loss, frac = loss_fn(ms.Tensor(emb), ms.Tensor(labels))
    ref_loss, ref_frac = brute_force(emb, labels, margin, mining, squared)
    assert 0.0 < ref_loss  # the case is not trivially zero
    np.testing.assert_allclose(loss.asnumpy(), ref_loss, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(frac.asnumpy(), ref_frac, rtol=1e-6)


def test_hand_computed_one_dimensional_case():
    # x = 0, 1 (label 0) and 3, 5 (label 1), squared distances, no normalisation:
    # batch-hard hinges: a=0: 1-9, a=1: 1-4, a=3: 4-4, a=5: 4-16 (+0.2) -> only 0.2 survives -> mean 0.05
    # semi-hard: (0,1): nearest farther neg 9 -> 0; (1,0): 4 -> 0; (3,5): no neg farther than 4 -> farthest 9 -> 0;
    #            (5,3): nearest farther than 4 is 16 -> 0  => loss 0
    x = ms.Tensor(np.array([[0.0], [1.0], [3.0], [5.0]], np.float32))
    y = ms.Tensor(np.array([0, 0, 1, 1], np.int32))
    hard = TripletLoss(margin=0.2, mining="batch_hard", normalize=False, with_fraction=True)(x, y)
    np.testing.assert_allclose([v.asnumpy() for v in hard], [0.05, 0.25], rtol=1e-6)
    semi = TripletLoss(margin=0.2, mining="semi_hard", normalize=False)(x, y)
    assert float(semi.asnumpy()) == 0.0
    # margin 6: (3,5): d_ap 4 - farthest neg 9 + 6 = 1; (5,3): 4 - 16 + 6 < 0;
    #           (0,1): 1 - 9 + 6 < 0; (1,0): 1 - 4 + 6 = 3
    semi6 = TripletLoss(margin=6.0, mining="semi_hard", normalize=False)(x, y)
    np.testing.assert_allclose(semi6.asnumpy(), (1.0 + 3.0) / 4, rtol=1e-6)


@pytest.mark.parametrize("mining", ["batch_hard", "semi_hard"])
@pytest.mark.parametrize("squared", [True, False])
def test_gradient_finite_at_zero_distance(mining, squared):
    # each identity's images are identical: every positive distance is exactly zero
    base = np.random.default_rng(3).standard_normal((3, 5)).astype(np.float32)
    emb = ms.Tensor(np.repeat(base, 2, axis=0))
    labels = ms.Tensor(np.repeat(np.arange(3), 2).astype(np.int32))
    loss_fn = TripletLoss(margin=0.2, mining=mining, squared=squared)
    loss, grad = ms.value_and_grad(loss_fn, grad_position=0)(emb, labels)
    assert np.isfinite(loss.asnumpy()) and np.isfinite(grad.asnumpy()).all()
    all_same = ms.Tensor(np.ones((4, 5), np.float32))
    two_ids = ms.Tensor(np.array([0, 0, 1, 1], np.int32))
    loss, grad = ms.value_and_grad(loss_fn, grad_position=0)(all_same, two_ids)
    np.testing.assert_allclose(loss.asnumpy(), 0.2, atol=1e-5)
    assert np.isfinite(grad.asnumpy()).all()


@pytest.mark.parametrize("mining", ["batch_hard", "semi_hard"])
def test_graph_mode_matches_brute_force(mining):
    labels = np.repeat(np.arange(3), 4).astype(np.int32)
    emb = np.random.default_rng(7).standard_normal((12, 8)).astype(np.float32)
    loss_fn = TripletLoss(margin=0.2, mining=mining)
    loss = ms.jit(loss_fn.construct)(ms.Tensor(emb), ms.Tensor(labels))
    np.testing.assert_allclose(loss.asnumpy(), brute_force(emb, labels, 0.2, mining, True)[0], rtol=1e-4)


def test_unknown_mining_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown mining 'hardest'"):
        TripletLoss(mining="hardest")
