"""PFE MLS loss (MindSpore, graph mode too) and numpy MLS/cosine scoring against brute-force loops."""
import numpy as np
import pytest
import mindspore as ms
from sklearn.metrics.pairwise import cosine_similarity

from pfe.src.mls import MLSLoss, cosine_score, mls_score
from common.core.env import set_device  # noqa: E402

set_device("CPU")


def _batch(labels, dim=5, seed=0):
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(len(labels), dim)).astype(np.float32)
    log_sigma_sq = rng.normal(-1.0, 0.5, size=(len(labels), dim)).astype(np.float32)
    return mu, log_sigma_sq, np.asarray(labels, np.int32)


def _brute_force_loss(mu, log_sigma_sq, labels):
    s = np.exp(log_sigma_sq.astype(np.float64))
    values = []
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            if labels[i] == labels[j]:
                total = 0.0
                for d in range(mu.shape[1]):
                    fused = s[i, d] + s[j, d]
                    total += (float(mu[i, d]) - float(mu[j, d])) ** 2 / fused + np.log(fused)
                values.append(total)
    return np.mean(values), len(values)


LABELS = [0, 0, 0, 1, 1, 2, 3, 3, 3, 3]  # genuine unordered pairs: 3 + 1 + 0 + 6 = 10


def test_loss_matches_brute_force():
    mu, lss, labels = _batch(LABELS)
    got = MLSLoss()(ms.Tensor(mu), ms.Tensor(lss), ms.Tensor(labels)).asnumpy()
    want, count = _brute_force_loss(mu, lss, labels)
    assert count == 10
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_pair_mask_counts_each_unordered_pair_once():
    mask = MLSLoss().genuine_pair_mask(ms.Tensor(np.asarray(LABELS, np.int32))).asnumpy()
    assert mask.sum() == 10
    assert not np.tril(mask).any()  # only i < j, never the diagonal or (j, i)
    shuffled = np.asarray([5, 1, 5, 5, 1, 7], np.int32)  # 3 + 1 pairs, labels not grouped
    assert MLSLoss().genuine_pair_mask(ms.Tensor(shuffled)).asnumpy().sum() == 4


def test_no_genuine_pairs_gives_zero_loss_and_gradient():
    mu, lss, labels = _batch([0, 1, 2, 3])
    loss_fn = MLSLoss()
    assert loss_fn(ms.Tensor(mu), ms.Tensor(lss), ms.Tensor(labels)).asnumpy() == 0.0

    def forward(m, s, y):
        return loss_fn(m, s, y)

    value, (g_mu, g_lss) = ms.jit(ms.value_and_grad(forward, grad_position=(0, 1)))(
        ms.Tensor(mu), ms.Tensor(lss), ms.Tensor(labels))
    assert value.asnumpy() == 0.0 and not g_mu.asnumpy().any() and not g_lss.asnumpy().any()


def test_loss_in_graph_mode_with_gradient():
    mu, lss, labels = _batch(LABELS, seed=3)
    loss_fn = MLSLoss()

    def forward(m, s, y):
        return loss_fn(m, s, y)

    grad_fn = ms.jit(ms.value_and_grad(forward, grad_position=1))
    value, grad = grad_fn(ms.Tensor(mu), ms.Tensor(lss), ms.Tensor(labels))
    np.testing.assert_allclose(value.asnumpy(), _brute_force_loss(mu, lss, labels)[0], rtol=1e-5)
    # analytic d/dlog s_i,d of the mean: sum over i's genuine partners of s_i (1/f - diff^2/f^2) / pairs
    s = np.exp(lss.astype(np.float64))
    want = np.zeros_like(s)
    for i in range(len(LABELS)):
        for j in range(len(LABELS)):
            if i != j and LABELS[i] == LABELS[j]:
                fused = s[i] + s[j]
                want[i] += s[i] * (1 / fused - (mu[i] - mu[j]) ** 2 / fused ** 2) / 10
    np.testing.assert_allclose(grad.asnumpy(), want, rtol=1e-4, atol=1e-6)


def test_mls_score_matches_loop():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=(2, 4, 3))
    s1, s2 = rng.uniform(0.1, 2.0, size=(2, 4, 3))
    want = [-sum((mu1[p, d] - mu2[p, d]) ** 2 / (s1[p, d] + s2[p, d]) + np.log(s1[p, d] + s2[p, d])
                 for d in range(3)) for p in range(4)]
    np.testing.assert_allclose(mls_score(mu1, s1, mu2, s2), want, rtol=1e-12)


def test_cosine_score_matches_sklearn():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 6, 8))
    np.testing.assert_allclose(cosine_score(a, b), np.diag(cosine_similarity(a, b)), rtol=1e-12)


def test_scoring_rejects_bad_input():
    with pytest.raises(ValueError, match="mls_score: expected equal 2-D"):
        mls_score(np.ones((3, 2)), np.ones((3, 2)), np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="sigma_sq must be positive"):
        mls_score(np.ones((1, 2)), -np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2)))
    with pytest.raises(ValueError, match="cosine_score: expected equal 2-D"):
        cosine_score(np.ones(3), np.ones(3))
