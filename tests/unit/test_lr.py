import numpy as np
import pytest

from common.train.lr import build_lr


def test_step_schedule_matches_lightcnn_rule():
    lr = build_lr("step", 0.01, 30, 4, gamma=0.457305051927326, step_epochs=10)
    for s in range(len(lr)):
        assert lr[s] == pytest.approx(0.01 * 0.457305051927326 ** ((s // 4) // 10), rel=1e-6)


def test_multistep_schedule():
    lr = build_lr("multistep", 0.1, 25, 3, gamma=0.1, milestones=[10, 16, 21])
    expect = [0.1 * 0.1 ** sum(e >= m for m in (10, 16, 21)) for e in np.arange(75) // 3]
    np.testing.assert_allclose(lr, expect, rtol=1e-6)


def test_warmup_cosine():
    lr = build_lr("cosine", 1.0, 10, 10, warmup_epochs=2, min_lr=0.0)
    np.testing.assert_allclose(lr[:20], (np.arange(20) + 1) / 20, rtol=1e-6)
    t = (np.arange(20, 100) - 20) / 80
    np.testing.assert_allclose(lr[20:], 0.5 * (1 + np.cos(np.pi * t)), rtol=1e-5, atol=1e-7)


def test_unknown_schedule():
    with pytest.raises(ValueError, match="unknown lr schedule"):
        build_lr("poly", 0.1, 1, 1)
