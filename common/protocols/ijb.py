"""IJB-B / IJB-C template protocols (1:1 verification, 1:N identification), numpy only.

Inputs: the published meta folder (insightface's ``IJBC/meta``), ``<p>`` = ``ijbb`` or ``ijbc``:

* ``<p>_face_tid_mid.txt``       ``image template_id media_id`` per line;
* ``<p>_name_5pts_score.txt``    ``image x1 y1 .. x5 y5 detector_score`` per line, the same images (row i of the
  embeddings = line i of this file; ``face_tid_mid`` is matched to it by image name when its order differs);
* ``<p>_template_pair_label.txt`` ``template_1 template_2 label`` (1 = same subject);
* 1:N (optional): ``<p>_1N_gallery_G1.csv`` / ``_G2.csv`` (IJB-B: ``_S1`` / ``_S2``) and ``<p>_1N_probe_mixed.csv``,
  CSV with a header naming ``TEMPLATE_ID`` and ``SUBJECT_ID`` (one row per image; other columns ignored).

The published rules (insightface ``recognition/_evaluation_/ijb/ijb_11.py``), so numbers compare with papers:

* image feature = embedding + flipped embedding (``flip``); its norm is kept (``norm_score``; off: each image
  feature is L2-normalised first) and multiplied by the detector score (``detector_score``);
* the images of one media (video or photo id) inside a template are averaged; a template is the sum of its media
  features, L2-normalised (a zero template stays zero);
* 1:1: cosine score of every listed pair (float64, blocked matrix products: bounded memory), ROC as
  ``sklearn.metrics.roc_curve`` (default, thinned); TAR at FAR f = the TPR of the ROC point whose FPR is nearest f
  (no interpolation; equally near points: the higher TPR), for f = 1e-6 .. 1e-1; AUC by trapezoids;
* 1:N closed set: every probe template against G1 u G2; a probe's rank = 1 + the gallery templates of other
  subjects scoring strictly higher than its best mate; rank-1/5/10 = share of the mated probes within that rank;
* 1:N open set, per gallery: mated searches = probes whose subject is in that gallery, non-mated = the others;
  FPIR(t) = share of non-mated searches whose top score >= t; TPIR(t) = share of mated searches whose top
  template is of their subject and scores >= t; TPIR at FPIR f = the TPIR of the point (one per distinct score)
  whose FPIR is nearest f (ties: the higher TPIR); reported per gallery and averaged over the two.

Images that could not be read (``unreadable``: their rows, NaN in an eval's saved embeddings) are left out of
their media; a template with no image left is dropped with its pairs / searches (counted in ``counts``). Any
other row holding NaN or infinity is refused.
"""
import os
import warnings

import numpy as np

from common.protocols import ProtocolError
from common.protocols import roc
from common.protocols.sanity import check_embeddings

FARS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
FPIRS = (1e-2, 1e-1)
RANKS = (1, 5, 10)
TARGETS = {"IJBB": ("ijbb", ("S1", "S2")), "IJBC": ("ijbc", ("G1", "G2"))}
ROC_POINTS = 2000   # the ROC stored in the result: at most about this many of its exact points


def far_key(f):
    """JSON key of a FAR / FPIR point: Python's float repr ("1e-06", ..., "0.0001", ..., "0.1")."""
    return repr(float(f))


def target_info(target):
    """(prefix, gallery names) of ``IJBB`` / ``IJBC`` (any case, ``IJB-C`` too)."""
    key = str(target or "").upper().replace("-", "").replace("_", "")
    if key not in TARGETS:
        raise ProtocolError(f"--target {target}: unknown IJB target (IJBB or IJBC)")
    return key, TARGETS[key]


def meta_files(meta_dir, target):
    """Paths of the meta files of ``target`` in ``meta_dir``; the 1:1 ones must exist, the 1:N ones may not
    (then ``files['1N']`` is None)."""
    key, (prefix, galleries) = target_info(target)
    if not os.path.isdir(meta_dir):
        raise ProtocolError(f"{meta_dir}: IJB meta folder not found")
    files = {k: os.path.join(meta_dir, f"{prefix}_{k}.txt")
             for k in ("face_tid_mid", "name_5pts_score", "template_pair_label")}
    for k, p in files.items():
        if not os.path.isfile(p):
            raise ProtocolError(f"{meta_dir}: {os.path.basename(p)} is missing (the {key} meta folder holds "
                                f"{prefix}_face_tid_mid.txt, {prefix}_name_5pts_score.txt, "
                                f"{prefix}_template_pair_label.txt)")
    one_n = {g: os.path.join(meta_dir, f"{prefix}_1N_gallery_{g}.csv") for g in galleries}
    one_n["probe"] = os.path.join(meta_dir, f"{prefix}_1N_probe_mixed.csv")
    present = [os.path.isfile(p) for p in one_n.values()]
    if any(present) and not all(present):
        missing = [os.path.basename(p) for p, ok in zip(one_n.values(), present) if not ok]
        raise ProtocolError(f"{meta_dir}: 1:N needs {', '.join(os.path.basename(p) for p in one_n.values())}; "
                            f"{', '.join(missing)} missing")
    files["1N"] = one_n if all(present) else None
    return files


def _lines(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ProtocolError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(f"{path}: not a text file") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ProtocolError(f"{path}: file is empty")
    return lines


def _ints(path, fields, what):
    """Whitespace-separated integers, ``fields`` per line -> (N, fields) int64 (fast path for 15.6 M lines)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ProtocolError(f"{path}: cannot read ({exc.strerror})") from None
    n_lines = len(data.splitlines()) if len(data) < (1 << 20) else data.count(b"\n") + (not data.endswith(b"\n"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            x = np.fromstring(data, dtype=np.int64, sep=" ")
        except ValueError:
            x = np.empty(0, np.int64)
    if x.size and x.size == fields * n_lines:
        return x.reshape(-1, fields)
    rows = []
    for no, line in enumerate(_lines(path), 1):   # slow path: name the bad line, or parse what the fast one could not
        parts = line.split()
        if len(parts) != fields or not all(p.lstrip("-").isdigit() for p in parts):
            raise ProtocolError(f"{path}:{no}: expected '{what}' ({fields} integers), got {line.strip()[:80]!r}")
        rows.append([int(p) for p in parts])
    return np.asarray(rows, np.int64).reshape(-1, fields)


def read_face_tid_mid(path):
    """-> (image names, template ids int64, media ids int64)."""
    names, tid, mid = [], [], []
    for no, line in enumerate(_lines(path), 1):
        parts = line.split()
        if len(parts) != 3:
            raise ProtocolError(f"{path}:{no}: expected 'image template_id media_id', got {line.strip()[:80]!r}")
        try:
            tid.append(int(parts[1]))
            mid.append(int(parts[2]))
        except ValueError:
            raise ProtocolError(f"{path}:{no}: template and media ids must be integers, got {line.strip()[:80]!r}") \
                from None
        names.append(parts[0])
    return names, np.asarray(tid, np.int64), np.asarray(mid, np.int64)


def read_name_5pts_score(path):
    """-> (image names, landmarks (N, 5, 2) float64, detector scores (N,) float64)."""
    names, vals = [], []
    for no, line in enumerate(_lines(path), 1):
        parts = line.split()
        if len(parts) != 12:
            raise ProtocolError(f"{path}:{no}: expected 'image x1 y1 ... x5 y5 score' (12 fields), "
                                f"got {len(parts)}")
        try:
            v = [float(p) for p in parts[1:]]
        except ValueError:
            raise ProtocolError(f"{path}:{no}: landmarks and score must be numbers, got {line.strip()[:80]!r}") \
                from None
        if not np.isfinite(v).all():
            raise ProtocolError(f"{path}:{no}: landmarks and score must be finite")
        names.append(parts[0])
        vals.append(v)
    vals = np.asarray(vals, np.float64)
    return names, vals[:, :10].reshape(-1, 5, 2), vals[:, 10]


def read_pairs(path):
    """-> (template_1, template_2, label bool)."""
    x = _ints(path, 3, "template_1 template_2 label")
    lab = x[:, 2]
    if not np.isin(lab, (0, 1)).all():
        no = int(np.flatnonzero(~np.isin(lab, (0, 1)))[0]) + 1
        raise ProtocolError(f"{path}:{no}: label must be 0 or 1, got {int(lab[no - 1])}")
    return x[:, 0].copy(), x[:, 1].copy(), lab.astype(bool)


def read_1n_csv(path):
    """1:N gallery / probe CSV -> (template ids, subject ids), one entry per template (rows are images)."""
    lines = _lines(path)
    head = [h.strip().strip('"').upper() for h in lines[0].lstrip("\ufeff").split(",")]
    if "TEMPLATE_ID" not in head or "SUBJECT_ID" not in head:
        raise ProtocolError(f"{path}:1: header must name TEMPLATE_ID and SUBJECT_ID, got {lines[0].strip()[:80]!r}")
    it, is_ = head.index("TEMPLATE_ID"), head.index("SUBJECT_ID")
    tids, sids = [], []
    for no, line in enumerate(lines[1:], 2):
        parts = [v.strip().strip('"') for v in line.split(",")]
        try:
            tids.append(int(parts[it]))
            sids.append(int(parts[is_]))
        except (ValueError, IndexError):
            raise ProtocolError(f"{path}:{no}: TEMPLATE_ID and SUBJECT_ID must be integers, got "
                                f"{line.strip()[:80]!r}") from None
    if not tids:
        raise ProtocolError(f"{path}: no rows after the header")
    tids, sids = np.asarray(tids, np.int64), np.asarray(sids, np.int64)
    pairs = np.unique(np.stack([tids, sids], 1), axis=0)
    t, counts = np.unique(pairs[:, 0], return_counts=True)
    if (counts > 1).any():
        raise ProtocolError(f"{path}: template {int(t[counts > 1][0])} is listed with two subjects")
    return pairs[:, 0], pairs[:, 1]


class Meta:
    """The parsed meta folder of one target (1:N parts None when its CSVs are absent)."""

    def __init__(self, meta_dir, target):
        self.target, (self.prefix, self.galleries) = target_info(target)
        self.meta_dir = meta_dir
        self.files = meta_files(meta_dir, target)
        self.names, self.landmarks, self.scores = read_name_5pts_score(self.files["name_5pts_score"])
        names, self.templates, self.medias = read_face_tid_mid(self.files["face_tid_mid"])
        if len(names) != len(self.names):
            raise ProtocolError(f"{self.files['face_tid_mid']}: {len(names)} lines but "
                                f"{os.path.basename(self.files['name_5pts_score'])} has {len(self.names)}")
        if names != self.names and len(set(names)) == len(names) == len(set(self.names)) \
                and set(names) == set(self.names):            # the same unique images in another order: by name
            at = {n: i for i, n in enumerate(names)}
            rows = np.array([at[n] for n in self.names])
            self.templates, self.medias, names = self.templates[rows], self.medias[rows], list(self.names)
        if names != self.names:
            k = next(i for i, (a, b) in enumerate(zip(names, self.names)) if a != b)
            raise ProtocolError(f"{self.files['face_tid_mid']}:{k + 1}: image {names[k]} but line {k + 1} of "
                                f"{os.path.basename(self.files['name_5pts_score'])} is {self.names[k]} (the two "
                                f"files must list the same images)")
        self.p1, self.p2, self.label = read_pairs(self.files["template_pair_label"])
        known = np.unique(self.templates)
        for col in (self.p1, self.p2):
            bad = ~np.isin(col, known)
            if bad.any():
                raise ProtocolError(f"{self.files['template_pair_label']}:{int(np.flatnonzero(bad)[0]) + 1}: template "
                                    f"{int(col[bad][0])} is not in {os.path.basename(self.files['face_tid_mid'])}")
        if not self.label.any() or self.label.all():
            raise ProtocolError(f"{self.files['template_pair_label']}: needs both genuine (1) and impostor (0) pairs")
        self.one_n = None
        if self.files["1N"]:
            self.one_n = {}
            for g, path in self.files["1N"].items():
                t, s = read_1n_csv(path)
                bad = ~np.isin(t, known)
                if bad.any():
                    raise ProtocolError(f"{path}: template {int(t[bad][0])} is not in "
                                        f"{os.path.basename(self.files['face_tid_mid'])}")
                self.one_n[g] = (t, s)

    def __len__(self):
        return len(self.names)

    def inputs(self):
        """Every meta file read (for output-path checks)."""
        return [v for k, v in self.files.items() if k != "1N"] + list((self.files["1N"] or {}).values())


def image_features(emb, flip_emb=None, det_scores=None, norm_score=True, detector_score=True):
    """Per-image features (float64) by the published rules (module doc)."""
    f = np.asarray(emb, np.float64)
    if flip_emb is not None:
        f = f + np.asarray(flip_emb, np.float64)
    if not norm_score:
        n = np.linalg.norm(f, axis=1, keepdims=True)
        f = f / np.where(n > 0, n, 1.0)
    if detector_score:
        f = f * np.asarray(det_scores, np.float64)[:, None]
    return f


def template_features(feats, templates, medias):
    """(sorted unique template ids, L2-normalised template features float64) from per-image features.

    Rows that are not finite (unreadable images) are left out; templates without any finite row are not
    returned."""
    feats = np.asarray(feats, np.float64)
    templates, medias = np.asarray(templates, np.int64), np.asarray(medias, np.int64)
    ok = np.isfinite(feats).all(axis=1)
    feats, templates, medias = feats[ok], templates[ok], medias[ok]
    if feats.shape[0] == 0:
        raise ProtocolError("no readable image: every embedding row is NaN")
    order = np.lexsort((medias, templates))
    f, t, m = feats[order], templates[order], medias[order]
    new = np.r_[True, (t[1:] != t[:-1]) | (m[1:] != m[:-1])]
    start = np.flatnonzero(new)
    counts = np.diff(np.r_[start, t.size])
    media = np.add.reduceat(f, start, axis=0) / counts[:, None]
    mt = t[start]
    tstart = np.flatnonzero(np.r_[True, mt[1:] != mt[:-1]])
    tf = np.add.reduceat(media, tstart, axis=0)
    norm = np.linalg.norm(tf, axis=1, keepdims=True)
    return mt[tstart], tf / np.where(norm > 0, norm, 1.0)


def template_rows(unique_templates, ids):
    """Row of each template id in ``unique_templates`` (sorted), -1 where absent."""
    ids = np.asarray(ids, np.int64)
    pos = np.clip(np.searchsorted(unique_templates, ids), 0, max(len(unique_templates) - 1, 0))
    found = unique_templates[pos] == ids if len(unique_templates) else np.zeros(ids.shape, bool)
    return np.where(found, pos, -1)


def pair_scores(feats, r1, r2, block=256, dense=0.5):
    """Cosine scores ``feats[r1[k]] . feats[r2[k]]`` (float64) by blocked matrix products.

    Pairs are put as (low row, high row) and bucketed by ``block`` of low rows; each bucket multiplies its rows
    by the high rows it needs (all from the bucket on when they are at least ``dense`` of them, else just those),
    so memory stays at ``block`` x templates scores whatever the number of pairs."""
    feats = np.ascontiguousarray(feats, np.float64)
    r1, r2 = np.asarray(r1, np.int64), np.asarray(r2, np.int64)
    lo, hi = np.minimum(r1, r2), np.maximum(r1, r2)
    out = np.empty(lo.size, np.float64)
    buf = np.empty(block * feats.shape[0], np.float64)   # one score block, reused (no page faults per block)
    bucket = lo // block
    nb = int(bucket.max()) + 1 if bucket.size else 0
    order = np.argsort(bucket.astype(np.uint16 if nb < 65536 else np.int64), kind="stable")
    bounds = np.searchsorted(bucket[order], np.arange(nb + 1))
    for b in range(nb):
        idx = order[bounds[b]:bounds[b + 1]]
        if idx.size == 0:
            continue
        r0 = b * block
        rows = feats[r0:r0 + block]
        h = hi[idx]
        span = int(h.max()) + 1 - r0
        cols = np.unique(h)
        if cols.size >= dense * span:
            s = np.matmul(rows, feats[r0:r0 + span].T, out=buf[:rows.shape[0] * span].reshape(rows.shape[0], span))
            out[idx] = s[lo[idx] - r0, h - r0]
        else:
            s = np.matmul(rows, feats[cols].T, out=buf[:rows.shape[0] * cols.size].reshape(rows.shape[0], cols.size))
            out[idx] = s[lo[idx] - r0, np.searchsorted(cols, h)]
    return out


def nearest_point(fpr, tpr, target):
    """Index of the point whose FPR is nearest ``target``; equally near points: the highest TPR (last index)."""
    d = np.abs(np.asarray(fpr, np.float64) - target)
    best = np.flatnonzero(d == d.min())
    tpr = np.asarray(tpr)
    return int(best[tpr[best] == tpr[best].max()][-1])


def _thin_curve(fpr, tpr, n=ROC_POINTS):
    """At most about ``n`` exact points of the curve for storage and plots: log-spaced in FPR, ends kept."""
    if fpr.size <= n:
        return fpr, tpr
    pos = fpr[fpr > 0]
    lo = pos.min() if pos.size else 1e-9
    grid = np.geomspace(lo, 1.0, n)
    idx = np.unique(np.r_[0, np.clip(np.searchsorted(fpr, grid, side="right") - 1, 0, fpr.size - 1), fpr.size - 1])
    return fpr[idx], tpr[idx]


def roc_curve(scores, labels):
    """(fpr, tpr, thresholds) exactly as :func:`common.protocols.roc.roc_curve` (= ``sklearn.metrics.roc_curve``
    with its default thinning), for millions of pairs: one in-place sort of all scores and a search of the (few)
    genuine ones instead of an argsort carrying the labels."""
    scores, labels = roc.checked(scores, labels)
    gen = np.sort(scores[labels])
    s = np.sort(scores)[::-1]                                     # descending
    last = np.flatnonzero(s[1:] != s[:-1])                        # last index of each distinct score
    last = np.append(last, s.size - 1)
    thresholds = s[last]
    del s
    tps = (gen.size - np.searchsorted(gen, thresholds[::-1], side="left")[::-1]).astype(np.float64)
    fps = (last + 1) - tps
    if tps.size > 2:
        keep = np.r_[True, (np.diff(fps, 2) != 0) | (np.diff(tps, 2) != 0), True]
        tps, fps, thresholds = tps[keep], fps[keep], thresholds[keep]
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    return fps / fps[-1], tps / tps[-1], np.r_[np.inf, thresholds]


def verification(scores, labels, fars=FARS):
    """1:1 metrics: {"tar_at_far": {key: TAR}, "threshold_at_far": {key: thr}, "auc"}, and the stored curve."""
    fpr, tpr, thr = roc_curve(scores, labels)
    tar, th = {}, {}
    for f in fars:
        i = nearest_point(fpr, tpr, f)
        tar[far_key(f)], th[far_key(f)] = float(tpr[i]), float(thr[i])
    far_s, tpr_s = _thin_curve(fpr, tpr)
    return {"tar_at_far": tar, "threshold_at_far": th, "auc": roc.auc(fpr, tpr)}, \
        {"far": far_s.tolist(), "tpr": tpr_s.tolist()}


def _score_blocks(probe, gallery, block=2048):
    for a in range(0, probe.shape[0], block):
        yield a, probe[a:a + block] @ gallery.T


def closed_set(probe, probe_subj, gallery, gal_subj, ranks=RANKS):
    """Rank-k shares of the mated probes against one gallery (module doc) -> ({k: share}, mated, unmated)."""
    mated = np.isin(probe_subj, gal_subj)
    rank = np.empty(probe.shape[0], np.int64)
    for a, s in _score_blocks(probe, gallery):
        m = gal_subj[None, :] == probe_subj[a:a + s.shape[0], None]
        mate = np.where(m, s, -np.inf).max(axis=1)
        rank[a:a + s.shape[0]] = 1 + np.count_nonzero((s > mate[:, None]) & ~m, axis=1)
    r = rank[mated]
    out = {int(k): (float(np.mean(r <= k)) if r.size else None) for k in ranks}
    return out, int(mated.sum()), int((~mated).sum())


def open_set(probe, probe_subj, gallery, gal_subj, fpirs=FPIRS):
    """TPIR at each FPIR for one gallery (module doc) -> ({key: TPIR or None}, {key: threshold}, mated, non-mated)."""
    mated = np.isin(probe_subj, gal_subj)
    top = np.empty(probe.shape[0])
    hit = np.empty(probe.shape[0], bool)
    for a, s in _score_blocks(probe, gallery):
        j = s.argmax(axis=1)
        top[a:a + s.shape[0]] = s[np.arange(s.shape[0]), j]
        hit[a:a + s.shape[0]] = gal_subj[j] == probe_subj[a:a + s.shape[0]]
    n_m, n_n = int(mated.sum()), int((~mated).sum())
    if n_m == 0 or n_n == 0:
        return {far_key(f): None for f in fpirs}, {far_key(f): None for f in fpirs}, n_m, n_n
    neg = top[~mated]
    pos = top[mated & hit]
    thr = np.unique(np.r_[neg, pos])[::-1]                      # one point per distinct score, descending
    neg_s, pos_s = np.sort(neg), np.sort(pos)
    fpir = (neg_s.size - np.searchsorted(neg_s, thr, side="left")) / n_n
    tpir = (pos_s.size - np.searchsorted(pos_s, thr, side="left")) / n_m
    fpir, tpir, thr = np.r_[0.0, fpir], np.r_[0.0, tpir], np.r_[np.inf, thr]
    out, ths = {}, {}
    for f in fpirs:
        i = nearest_point(fpir, tpir, f)
        out[far_key(f)], ths[far_key(f)] = float(tpir[i]), float(thr[i])
    return out, ths, n_m, n_n


def identification(tids, tfeats, one_n, galleries, ranks=RANKS, fpirs=FPIRS):
    """1:N metrics from template features and the parsed 1:N CSVs ({name: (template ids, subject ids)})."""
    dropped = {}

    def part(name):
        t, s = one_n[name]
        rows = template_rows(tids, t)
        dropped[name] = int((rows < 0).sum())
        return tfeats[rows[rows >= 0]], s[rows >= 0]

    probe, psubj = part("probe")
    gals = {g: part(g) for g in galleries}
    if probe.shape[0] == 0 or any(v[0].shape[0] == 0 for v in gals.values()):
        raise ProtocolError("1:N: a gallery or the probe set has no template with a readable image")
    union = np.concatenate([gals[g][0] for g in galleries])
    usubj = np.concatenate([gals[g][1] for g in galleries])
    cs, mated, unmated = closed_set(probe, psubj, union, usubj, ranks)
    res = {f"rank{k}": v for k, v in cs.items()}
    tp = {far_key(f): {} for f in fpirs}
    thresholds = {far_key(f): {} for f in fpirs}
    counts = {"probe_templates": int(probe.shape[0]), "probes_mated_in_union": mated,
              "probes_not_in_union": unmated, "templates_dropped": dropped}
    for g in galleries:
        o, th, n_m, n_n = open_set(probe, psubj, gals[g][0], gals[g][1], fpirs)
        counts[f"gallery_{g}"] = {"templates": int(gals[g][0].shape[0]), "mated_searches": n_m,
                                  "non_mated_searches": n_n}
        for k in o:
            tp[k][g], thresholds[k][g] = o[k], th[k]
    for k in tp:
        vals = [tp[k][g] for g in galleries]
        tp[k]["mean"] = float(np.mean(vals)) if all(v is not None for v in vals) else None
    res["tpir_at_fpir"] = tp
    res["tpir_threshold"] = thresholds
    res["counts"] = counts
    return res


def evaluate(meta, emb, flip_emb=None, norm_score=True, detector_score=True, unreadable=(), source="embeddings",
             pairs_out=None):
    """Both protocols on embeddings of every image of ``meta`` (a :class:`Meta`; row i = line i of its
    ``_name_5pts_score.txt``); ``flip_emb`` None: no flip; ``unreadable``: rows of images that could not be
    read (left out). Returns the JSON-ready result (``roc`` included). ``pairs_out`` (a dict) receives the
    scored 1:1 pairs for the report: ``score``, ``label``, ``template_1`` / ``template_2`` (ids) and ``line``
    (0-based line of ``_template_pair_label.txt``)."""
    emb = np.asarray(emb)
    n = len(meta)
    if emb.ndim != 2 or emb.shape[0] != n:
        raise ProtocolError(f"{source}: expected {n} rows (one per line of "
                            f"{os.path.basename(meta.files['name_5pts_score'])}), got shape {emb.shape}")
    if flip_emb is not None and np.shape(flip_emb) != emb.shape:
        raise ProtocolError(f"{source} (flipped): expected shape {emb.shape}, got {np.shape(flip_emb)}")
    rows = np.asarray(sorted(set(int(r) for r in unreadable)), np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise ProtocolError(f"{source}: unreadable row {int(rows.max())} is outside the {n} images")
    unreadable = np.zeros(n, bool)
    unreadable[rows] = True
    ok = np.flatnonzero(~unreadable)
    if ok.size == 0:
        raise ProtocolError(f"{source}: every image is marked unreadable; nothing to score")
    warn = check_embeddings(emb, source, ok, meta.names)
    if flip_emb is not None:
        warn += check_embeddings(flip_emb, source + " (flipped)", ok, meta.names)
    feats = image_features(emb, flip_emb, meta.scores, norm_score, detector_score)
    feats[unreadable] = np.nan
    tids, tfeats = template_features(feats, meta.templates, meta.medias)
    r1, r2 = template_rows(tids, meta.p1), template_rows(tids, meta.p2)
    keep = (r1 >= 0) & (r2 >= 0)
    labels = meta.label[keep]
    if not labels.any() or labels.all():
        raise ProtocolError(f"{source}: after dropping templates without a readable image, 1:1 lacks genuine or "
                            f"impostor pairs")
    scores = pair_scores(tfeats, r1[keep], r2[keep])
    if pairs_out is not None:
        pairs_out.update(score=scores, label=labels, template_1=meta.p1[keep], template_2=meta.p2[keep],
                         line=np.flatnonzero(keep))
    metrics, curve = verification(scores, labels)
    out = {"protocol": "ijb", "target": meta.target, "images": n, "embedding_dim": int(emb.shape[1])}
    out.update(metrics)
    out.update({"rank1": None, "rank5": None, "rank10": None,
                "tpir_at_fpir": {far_key(f): None for f in FPIRS}})
    counts = {"images": n, "unreadable_images": int(unreadable.sum()),
              "media": int(np.unique(np.stack([meta.templates, meta.medias], 1), axis=0).shape[0]),
              "templates": int(np.unique(meta.templates).size), "templates_scored": int(tids.size),
              "pairs": int(meta.label.size), "pairs_scored": int(keep.sum()),
              "pairs_dropped": int((~keep).sum()), "genuine_pairs": int(labels.sum()),
              "impostor_pairs": int((~labels).sum())}
    if meta.one_n is not None:
        ident = identification(tids, tfeats, meta.one_n, meta.galleries)
        counts["1N"] = ident.pop("counts")
        out.update(ident)
    else:
        out["1N"] = f"n/a: no {meta.prefix}_1N_*.csv in {meta.meta_dir}"
    out["counts"] = counts
    out["options"] = {"flip": flip_emb is not None, "norm_score": bool(norm_score),
                      "detector_score": bool(detector_score)}
    out["unreadable_images"] = [meta.names[i] for i in np.flatnonzero(unreadable)[:1000]]
    out["roc"] = {f"{meta.target} 1:1": curve}
    if warn:
        out["warnings"] = warn
    return out
