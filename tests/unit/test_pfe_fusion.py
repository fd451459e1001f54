"""PFE template fusion against the direct Gaussian-product formula."""
import numpy as np
import pytest

from pfe.src.fusion import fuse, fuse_templates


def test_fuse_matches_loop_formula():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(4, 3))
    s = rng.uniform(0.1, 2.0, size=(4, 3))
    for d in range(3):
        precision = [1 / s[i, d] for i in range(4)]
        want_mu = sum(mu[i, d] * precision[i] for i in range(4)) / sum(precision)
        got_mu, got_s = fuse(mu, s)
        assert got_mu[d] == pytest.approx(want_mu, rel=1e-12)
        assert got_s[d] == pytest.approx(1 / sum(precision), rel=1e-12)


def test_fuse_one_image_returns_it():
    mu, s = np.array([[0.3, -0.4, 1.2]]), np.array([[0.5, 2.0, 1e-3]])
    got_mu, got_s = fuse(mu, s)
    np.testing.assert_allclose(got_mu, mu[0], rtol=1e-12)
    np.testing.assert_allclose(got_s, s[0], rtol=1e-12)


def test_equal_sigmas_average_and_halve():
    mu = np.array([[1.0, 0.0], [0.0, 1.0]])
    got_mu, got_s = fuse(mu, np.full((2, 2), 0.8), normalize=True)
    np.testing.assert_allclose(got_mu, [np.sqrt(0.5), np.sqrt(0.5)], rtol=1e-12)
    np.testing.assert_allclose(got_s, [0.4, 0.4], rtol=1e-12)


def test_fuse_templates_groups_rows():
    rng = np.random.default_rng(1)
    mu, s = rng.normal(size=(6, 4)), rng.uniform(0.1, 1.0, size=(6, 4))
    ids = np.array([7, 2, 7, 9, 2, 7])
    got_ids, got_mu, got_s = fuse_templates(mu, s, ids)
    assert list(got_ids) == [2, 7, 9]
    for k, t in enumerate(got_ids):
        rows = ids == t
        w = 1 / s[rows]
        np.testing.assert_allclose(got_mu[k], (mu[rows] * w).sum(0) / w.sum(0), rtol=1e-12)
        np.testing.assert_allclose(got_s[k], 1 / w.sum(0), rtol=1e-12)


def test_fuse_rejects_bad_input():
    with pytest.raises(ValueError, match="fuse: expected mu and sigma_sq of equal"):
        fuse(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="fuse: expected"):
        fuse(np.ones((0, 3)), np.ones((0, 3)))
    with pytest.raises(ValueError, match="sigma_sq must be positive"):
        fuse(np.ones((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="fuse_templates: template_ids has shape"):
        fuse_templates(np.ones((3, 2)), np.ones((3, 2)), [1, 2])
