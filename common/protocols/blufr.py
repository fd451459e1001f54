"""BLUFR on LFW (Liao et al. 2014): verification and open-set identification over 10 trials, vectorised.

Official rules (BLUFR toolkit ``EvalROC.m`` / ``OpenSetROC.m``), cosine scores of L2-normalised features:

* A trial with ``N`` impostor scores turns FAR ``f`` into ``k = round(f*N)`` false alarms (halves round up).
  Threshold: the k-th highest impostor score; for ``k = 0`` the midpoint between the highest impostor score
  and the lowest genuine score above it (or just above the highest impostor if none is); for ``k = N``
  below every score. Accept ``score >= threshold``; the reported FAR is ``k / N``.
* Verification: every pair of the lower triangle of the test-set score matrix; VR = share of genuine >= thr.
* Open-set identification (gallery x probe scores): a probe is genuine if its label is in the gallery.
  Impostor probes contribute their maximum gallery score. A genuine probe's mate score is its best mate
  score; its rank is 1 + the gallery entries scoring higher, + equal-scoring entries listed earlier
  (MATLAB's stable descending sort). DIR(rank r, FAR f) = share of genuine probes with mate score >= thr(f)
  and rank <= r.
* Reported: mean, sample std (ddof=1, MATLAB ``std``) and mean - std over the trials.
"""
from typing import List, NamedTuple

import numpy as np

from common.protocols import ProtocolError
from common.protocols.listfile import l2_normalize

VERI_FARS = np.r_[0.0, np.kron(10.0 ** np.arange(-8, 0), np.arange(1, 10)), 1.0]
OSI_FARS = np.r_[0.0, np.kron(10.0 ** np.arange(-4, 0), np.arange(1, 10)), 1.0]
RANKS = np.r_[np.arange(1, 11), np.arange(20, 101, 10)]
REPORT_VR = (1e-4, 1e-3, 1e-2)          # VR@FAR points written to results
REPORT_DIR = ((1e-3, 1), (1e-2, 1), (1e-2, 10))  # (FAR, rank) DIR points


class BlufrConfig(NamedTuple):
    """Config with 0-based indices; one index array per trial."""
    image_list: List[str]
    labels: np.ndarray
    test_index: List[np.ndarray]
    gal_index: List[np.ndarray]
    prob_index: List[np.ndarray]


def _flat(x):
    """Unwrap MATLAB cell nesting (object arrays of shape (1, 1) ...) down to a flat numeric array."""
    a = np.asarray(x)
    while a.dtype == object and a.size == 1:
        a = np.asarray(a.ravel()[0])
    return a.ravel()


def load_config(path):
    """Read ``blufr_lfw_config.mat`` (imageList, labels, testIndex, galIndex, probIndex; 1-based)."""
    import scipy.io

    try:
        m = scipy.io.loadmat(path)
    except (OSError, ValueError, TypeError) as exc:
        raise ProtocolError(f"{path}: cannot read BLUFR config ({exc})") from None
    for var in ("imageList", "labels", "testIndex", "galIndex", "probIndex"):
        if var not in m:
            raise ProtocolError(f"{path}: variable {var!r} is missing")
    names = [str(_flat(c)[0]) for c in np.asarray(m["imageList"], dtype=object).ravel()]
    labels = _flat(m["labels"]).astype(np.int64)
    if labels.size != len(names):
        raise ProtocolError(f"{path}: labels has {labels.size} entries but imageList has {len(names)}")
    cells = {}
    for var in ("testIndex", "galIndex", "probIndex"):
        trials = []
        for t, c in enumerate(np.asarray(m[var], dtype=object).ravel()):
            idx = _flat(c).astype(np.int64)
            if idx.size == 0 or idx.min() < 1 or idx.max() > len(names):
                raise ProtocolError(f"{path}: {var}{{{t + 1}}} is empty or has indices outside 1..{len(names)}")
            trials.append(idx - 1)
        cells[var] = trials
    if not len(cells["testIndex"]) == len(cells["galIndex"]) == len(cells["probIndex"]) > 0:
        raise ProtocolError(f"{path}: testIndex, galIndex and probIndex must have the same number of trials")
    return BlufrConfig(names, labels, cells["testIndex"], cells["galIndex"], cells["probIndex"])


def false_alarms(fars, n_imp):
    """Number of false alarms for each FAR: MATLAB round(f * N) (halves away from zero)."""
    fars = np.asarray(fars, np.float64)
    if fars.min() < 0 or fars.max() > 1:
        raise ProtocolError("FAR points must lie in [0, 1]")
    return np.floor(fars * n_imp + 0.5).astype(np.int64)


def far_thresholds(imp, gen, fars):
    """BLUFR thresholds (see module doc) from ascending-sorted impostor and genuine scores -> (thr, FAR)."""
    n = imp.size
    k = false_alarms(fars, n)
    thr = imp[np.clip(n - k, 0, n - 1)].astype(np.float64)  # k-th highest sits at ascending index n - k
    higher = gen[gen > imp[-1]]
    thr[k == 0] = (float(imp[-1]) + float(higher[0])) / 2.0 if higher.size else np.nextafter(float(imp[-1]), np.inf)
    thr[k == n] = np.nextafter(min(float(imp[0]), float(gen[0])), -np.inf)
    return thr, k / n


def _share_at_least(sorted_values, thr):
    """Share of ``sorted_values`` (ascending) that are >= each threshold."""
    return (sorted_values.size - np.searchsorted(sorted_values, thr, side="left")) / sorted_values.size


def pair_scores(x, labels, block=512):
    """Genuine and impostor scores over the strict lower triangle of ``x @ x.T``, each sorted ascending.

    Pair scores do not depend on row order, so rows are grouped by label first: then the impostors of
    row i are exactly the columns before i's group, and the genuine pairs lie inside each group.
    """
    order = np.argsort(labels, kind="stable")
    x, labels = x[order], labels[order]
    _, first, group, counts = np.unique(labels, return_index=True, return_inverse=True, return_counts=True)
    start = first[group]  # index of the first row with the same label
    imp = np.empty(int(start.sum()), x.dtype)
    i = 0
    for a in range(0, x.shape[0], block):
        st = start[a:a + block]
        s = x[a:a + block] @ x[:st.max()].T
        v = s[np.arange(s.shape[1])[None, :] < st[:, None]]
        imp[i:i + v.size] = v
        i += v.size
    gen = [(x[f:f + c] @ x[f:f + c].T)[np.tril_indices(c, -1)] for f, c in zip(first, counts) if c > 1]
    gen = np.concatenate(gen) if gen else np.empty(0, x.dtype)
    gen.sort()
    imp.sort()  # in place: no 2nd copy of ~50M scores; numpy's SIMD sort beats multi-kth np.partition here
    return gen, imp


def verification(x, labels, fars=VERI_FARS):
    """(VR, FAR) per FAR point for one trial's normalised test features."""
    gen, imp = pair_scores(x, labels)
    if gen.size == 0 or imp.size == 0:
        raise ProtocolError("a BLUFR trial needs both genuine and impostor pairs")
    thr, far = far_thresholds(imp, gen, fars)
    return _share_at_least(gen, thr), far


def open_set(score, gal_labels, probe_labels, fars=OSI_FARS, ranks=RANKS):
    """(DIR [rank x FAR], FAR) for a gallery x probe score matrix."""
    match = gal_labels[:, None] == probe_labels[None, :]
    genuine = match.any(axis=0)
    if genuine.all() or not genuine.any():
        raise ProtocolError("open-set identification needs genuine and impostor probes")
    imp = score[:, ~genuine].max(axis=0)
    s, m = score[:, genuine], match[:, genuine]
    masked = np.where(m, s, -np.inf)
    mate_idx = masked.argmax(axis=0)  # first best mate, as MATLAB max
    cols = np.arange(s.shape[1])
    mate = s[mate_idx, cols]
    earlier = np.arange(s.shape[0])[:, None] < mate_idx[None, :]
    rank = 1 + np.count_nonzero((s > mate) | ((s == mate) & earlier), axis=0)
    thr, far = far_thresholds(np.sort(imp), np.sort(mate), fars)
    detected = mate[:, None] >= thr[None, :]                     # genuine x FAR
    within = rank[:, None] <= np.asarray(ranks)[None, :]          # genuine x rank
    dir_ = (within.T.astype(np.float64) @ detected.astype(np.float64)) / mate.size
    return dir_, far


def _summary(values):
    """mean, sample std (ddof=1; 0 for one trial) and mean - std along axis 0."""
    mean = values.mean(axis=0)
    std = values.std(axis=0, ddof=1) if values.shape[0] > 1 else np.zeros_like(mean)
    return mean, std, mean - std


def evaluate(embeddings, config, dtype=np.float32):
    """All trials of BLUFR; ``embeddings`` row i = ``config.image_list[i]``. Returns a JSON-ready dict."""
    emb = np.asarray(embeddings)
    if emb.ndim != 2 or emb.shape[0] != len(config.image_list):
        raise ProtocolError(f"BLUFR needs one embedding per config image ({len(config.image_list)}), "
                         f"got shape {emb.shape}")
    x = l2_normalize(emb).astype(dtype)
    ranks = RANKS[RANKS <= min(len(g) for g in config.gal_index)]
    vrs, vfars, dirs, ofars = [], [], [], []
    for test, gal, prob in zip(config.test_index, config.gal_index, config.prob_index):
        vr, far = verification(x[test], config.labels[test])
        vrs.append(vr)
        vfars.append(far)
        d, of = open_set(x[gal] @ x[prob].T, config.labels[gal], config.labels[prob], OSI_FARS, ranks)
        dirs.append(d)
        ofars.append(of)
    vrs, dirs = np.array(vrs), np.array(dirs)
    vr_mean, vr_std, vr_fused = _summary(vrs)
    dir_mean, dir_std, dir_fused = _summary(dirs)
    out = {
        "trials": len(vrs),
        "verification": {"far_points": VERI_FARS.tolist(), "mean_far": np.mean(vfars, 0).tolist(),
                         "vr_mean": vr_mean.tolist(), "vr_std": vr_std.tolist(),
                         "vr_mean_minus_std": vr_fused.tolist()},
        "open_set": {"far_points": OSI_FARS.tolist(), "mean_far": np.mean(ofars, 0).tolist(),
                     "ranks": ranks.tolist(), "dir_mean": dir_mean.tolist(), "dir_std": dir_std.tolist(),
                     "dir_mean_minus_std": dir_fused.tolist()},
    }
    for f in REPORT_VR:
        j = int(np.argmin(np.abs(VERI_FARS - f)))
        out[f"VR@FAR={f * 100:g}%"] = {"mean": float(vr_mean[j]), "std": float(vr_std[j]),
                                       "mean_minus_std": float(vr_fused[j]), "trials": vrs[:, j].tolist()}
    for f, r in REPORT_DIR:
        if r not in ranks:
            continue
        j, q = int(np.argmin(np.abs(OSI_FARS - f))), int(np.flatnonzero(ranks == r)[0])
        out[f"DIR@FAR={f * 100:g}%,rank={r}"] = {
            "mean": float(dir_mean[q, j]), "std": float(dir_std[q, j]),
            "mean_minus_std": float(dir_fused[q, j]), "trials": dirs[:, q, j].tolist()}
    return out
