"""Template fusion of PFE embeddings (numpy): the posterior of a set of Gaussian observations."""
import numpy as np


def fuse(mu, sigma_sq, normalize=False):
    """Fuse a set of images (K, D) into one: precision-weighted mean of mu and combined variance.

    mu = sum_i(mu_i / s_i) / sum_i(1 / s_i),  s = 1 / sum_i(1 / s_i).  Returns ((D,), (D,)) float64;
    ``normalize`` L2-normalises the fused mu (the official eval does, and keeps min(s) instead of s).
    """
    mu = np.asarray(mu, dtype=np.float64)
    sigma_sq = np.asarray(sigma_sq, dtype=np.float64)
    if mu.ndim != 2 or mu.shape != sigma_sq.shape or mu.shape[0] == 0:
        raise ValueError(f"fuse: expected mu and sigma_sq of equal non-empty shape (K, D), got "
                         f"{mu.shape} and {sigma_sq.shape}")
    if (sigma_sq <= 0).any():
        raise ValueError("fuse: sigma_sq must be positive (pass sigma^2, not log sigma^2)")
    precision = 1.0 / sigma_sq
    total = precision.sum(axis=0)
    fused_mu = (mu * precision).sum(axis=0) / total
    if normalize:
        fused_mu = fused_mu / max(np.linalg.norm(fused_mu), 1e-12)
    return fused_mu, 1.0 / total


def fuse_templates(mu, sigma_sq, template_ids, normalize=False):
    """Fuse every template: rows of mu/sigma_sq (N, D) grouped by template_ids (N,).

    Returns (ids (T,) sorted unique, mu (T, D), sigma_sq (T, D)).
    """
    mu = np.asarray(mu, dtype=np.float64)
    sigma_sq = np.asarray(sigma_sq, dtype=np.float64)
    template_ids = np.asarray(template_ids)
    if template_ids.shape != mu.shape[:1]:
        raise ValueError(f"fuse_templates: template_ids has shape {template_ids.shape}, expected "
                         f"({mu.shape[0]},) to match mu")
    ids, inverse = np.unique(template_ids, return_inverse=True)
    out = [fuse(mu[inverse == t], sigma_sq[inverse == t], normalize) for t in range(len(ids))]
    return ids, np.stack([m for m, _ in out]), np.stack([s for _, s in out])
