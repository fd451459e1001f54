"""Embedding sanity checks before scoring: NaN/inf, all-zero and constant embeddings are refused; some
all-zero rows are a warning (their cosine score is 0 with everything, a silent error otherwise)."""
import numpy as np

from common.protocols import ProtocolError


def check_embeddings(emb, source="embeddings", rows=None):
    """Check the rows of ``emb`` that will be scored (``rows``: their indices; None: all).

    Refused (ProtocolError naming ``source``): NaN or infinity, every row zero, every row the same
    (a constant network output). Returns a list of warning lines (some rows all-zero)."""
    e = np.asarray(emb)
    if rows is not None:
        e = e[np.unique(np.asarray(rows, np.int64))]
    if e.ndim != 2 or e.shape[0] == 0:
        raise ProtocolError(f"{source}: no embeddings to score (shape {np.shape(emb)})")
    e = e.astype(np.float64, copy=False)
    bad = ~np.isfinite(e).all(axis=1)
    if bad.any():
        raise ProtocolError(f"{source}: {int(bad.sum())} of {e.shape[0]} embeddings contain NaN or infinity")
    zero = ~e.any(axis=1)
    if zero.all():
        raise ProtocolError(f"{source}: all {e.shape[0]} embeddings are zero; nothing to score")
    scale = float(np.abs(e).max())
    if e.shape[0] > 1 and float(np.ptp(e, axis=0).max()) <= 1e-6 * scale:
        raise ProtocolError(f"{source}: all {e.shape[0]} embeddings are identical (a constant network output); "
                            f"nothing to score")
    if zero.any():
        return [f"{source}: {int(zero.sum())} of {e.shape[0]} embeddings are all-zero (cosine 0 with every "
                f"other image)"]
    return []
