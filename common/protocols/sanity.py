"""Embedding sanity checks before scoring: NaN/inf, all-zero and constant embeddings are refused; some
all-zero rows are a warning (their cosine score is 0 with everything, a silent error otherwise).

NaN / inf is handled one way on every path (the eval flow, ``python -m common.evaluate``, the C++ post-step, PFE's
MLS scoring, compare / identify): a scored row holding one is refused, naming the rows (and images). A NaN row is
never taken for an unreadable image: those are named explicitly (the eval's ``STEM_unreadable.txt``)."""
import numpy as np

from common.protocols import ProtocolError


def nonfinite_rows(emb):
    """Indices of the rows of a 2-D array holding NaN or infinity."""
    e = np.asarray(emb, np.float64)
    if e.ndim != 2:
        return []
    return np.flatnonzero(~np.isfinite(e).all(axis=1)).tolist()


def name_rows(rows, names=None, limit=5):
    """``row 3 (a/b.jpg), row 17 (...), +2 more``: the rows (0-based) and, with ``names``, their images."""
    shown = [f"row {i}" + (f" ({names[i]})" if names is not None and i < len(names) else "") for i in rows[:limit]]
    return ", ".join(shown) + (f", +{len(rows) - limit} more" if len(rows) > limit else "")


def check_finite(emb, source="embeddings", rows=None, names=None):
    """ProtocolError naming the rows (0-based, of ``emb``) that hold NaN or infinity, among ``rows`` (None: all)."""
    e = np.asarray(emb)
    idx = np.arange(len(e)) if rows is None else np.unique(np.asarray(rows, np.int64))
    if e.ndim != 2 or idx.size == 0:
        return
    bad = [int(idx[k]) for k in nonfinite_rows(e[idx])]
    if bad:
        raise ProtocolError(f"{source}: {len(bad)} of {idx.size} embeddings contain NaN or infinity "
                            f"({name_rows(bad, names)}); refused, not scored")


def check_embeddings(emb, source="embeddings", rows=None, names=None):
    """Check the rows of ``emb`` that will be scored (``rows``: their indices; None: all).

    Refused (ProtocolError naming ``source``): NaN or infinity (naming the rows, and ``names[row]`` when given),
    every row zero, every row the same (a constant network output). Returns a list of warning lines (some rows
    all-zero)."""
    e = np.asarray(emb)
    if rows is not None:
        e = e[np.unique(np.asarray(rows, np.int64))]
    if e.ndim != 2 or e.shape[0] == 0:
        raise ProtocolError(f"{source}: no embeddings to score (shape {np.shape(emb)})")
    check_finite(emb, source, rows, names)
    e = e.astype(np.float64, copy=False)
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
