"""ROC metrics against scikit-learn and direct formulas."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from common.protocols import roc


def _data(seed, n=400, ties=False):
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.4
    scores = rng.normal(size=n) + 1.5 * labels
    if ties:
        scores = np.round(scores, 1)  # many equal scores, mixed labels
    return scores, labels


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("drop", [False, True])
def test_roc_curve_matches_sklearn(ties, drop):
    scores, labels = _data(1, ties=ties)
    fpr, tpr, thr = roc.roc_curve(scores, labels, drop_intermediate=drop)
    sk_fpr, sk_tpr, sk_thr = sk_roc_curve(labels, scores, drop_intermediate=drop)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thr[1:], sk_thr[1:])
    assert np.isinf(thr[0])
    assert roc.auc(fpr, tpr) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_eer_accuracy_is_lightcnn_rule_on_sklearn_curve():
    for seed in range(5):
        scores, labels = _data(seed, ties=seed % 2 == 1)
        fpr, tpr, _ = roc.roc_curve(scores, labels)
        sk_fpr, sk_tpr, _ = sk_roc_curve(labels, scores)
        first = np.where(sk_tpr - (1 - sk_fpr) >= 0)[0][0]  # LightCNN eval_lfw.py
        assert roc.eer_accuracy(fpr, tpr) == sk_tpr[first]


def test_tpr_at_far_brute_force():
    scores, labels = _data(3, n=3000)
    imp, gen = scores[~labels], scores[labels]
    fpr, tpr, thr = roc.roc_curve(scores, labels)
    for far in (0.0, 0.001, 0.01, 0.1):
        best = 0.0
        for t in np.unique(scores):  # every operating point, accept score >= t
            if np.mean(imp >= t) <= far:
                best = max(best, np.mean(gen >= t))
        got, t_got = roc.tpr_at_far(fpr, tpr, thr, [far])[0]
        assert got == pytest.approx(best)
        assert np.mean(imp >= t_got) <= far
    # FAR = 0: share of genuine strictly above the highest impostor
    assert roc.tpr_at_far(fpr, tpr, thr, [0.0])[0][0] == pytest.approx(np.mean(gen > imp.max()))


def test_val_at_far_direct():
    from scipy.interpolate import interp1d

    scores, labels = _data(4, n=2000)
    grid = np.arange(-3, 5, 0.001)
    val, far, thr = roc.val_at_far(scores, labels, 1e-2, grid)
    # direct: FAR per candidate by counting, then scipy interpolation over the distinct FARs
    imp, gen = scores[~labels], scores[labels]
    fars = np.array([np.count_nonzero(imp >= t) for t in grid]) / imp.size
    uniq, first = np.unique(fars[::-1], return_index=True)
    expect_thr = float(interp1d(uniq, grid[::-1][first], kind="slinear")(1e-2))
    assert thr == pytest.approx(expect_thr, abs=1e-12)
    assert val == pytest.approx(np.count_nonzero(gen >= expect_thr) / gen.size)
    assert far == pytest.approx(np.count_nonzero(imp >= expect_thr) / imp.size)
    assert far <= 0.0105


def test_val_at_far_unreachable_accepts_nothing():
    scores, labels = _data(5, n=200)
    val, far, thr = roc.val_at_far(scores, labels, 0.5, np.arange(10, 11, 0.1))
    assert np.isinf(thr) and val == 0.0 and far == 0.0


def test_bad_input_messages():
    with pytest.raises(ValueError, match="both genuine"):
        roc.roc_curve([0.1, 0.2], [True, True])
    with pytest.raises(ValueError, match="differ in length"):
        roc.roc_curve([0.1, 0.2, 0.3], [True, False])
