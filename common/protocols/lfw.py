"""LFW View 2 pairs (``pairs.txt`` or LightCNN's ``lfw_pairs.mat`` + list), cosine scores, 10-fold accuracy."""
from typing import List, NamedTuple

import numpy as np

from common.protocols import ProtocolError
from common.protocols.listfile import image_key, key_index, l2_normalize


class PairList(NamedTuple):
    """Pairs in file order: image paths, fold index (0-based), issame, and source line (or .mat column)."""
    first: List[str]
    second: List[str]
    fold: np.ndarray
    issame: np.ndarray
    line: np.ndarray


def lfw_image(name, number):
    """LFW relative image path ``name/name_%04d.jpg``."""
    return f"{name}/{name}_{int(number):04d}.jpg"


def _int_field(text, path, no, what):
    if not text.isdigit() or int(text) < 1:
        raise ProtocolError(f"{path}:{no}: {what} must be a positive integer, got {text!r}")
    return int(text)


def read_pairs(path):
    """Parse LFW ``pairs.txt``: header ``folds n`` then per fold n same lines and n different lines."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise ProtocolError(f"{path}: cannot read pairs file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ProtocolError(f"{path}: not a text pairs file (binary content; expected LFW pairs.txt, "
                            f"or LightCNN's lfw_pairs.mat)") from None
    if not lines or len(lines[0].split()) != 2:
        raise ProtocolError(f"{path}:1: header must be '<folds> <pairs per class>', e.g. '10\\t300'")
    n_folds, per = (_int_field(t, path, 1, "header field") for t in lines[0].split())
    body = lines[1:]
    while body and not body[-1].strip():
        body.pop()
    if len(body) != 2 * n_folds * per:
        raise ProtocolError(f"{path}: header promises {2 * n_folds * per} pair lines, found {len(body)}")
    first, second, fold, same, line = [], [], [], [], []
    for i, text in enumerate(body):
        no = i + 2
        k, pos = divmod(i, 2 * per)
        fields = text.split()
        if pos < per:
            if len(fields) != 3:
                raise ProtocolError(f"{path}:{no}: fold {k + 1} same-person line must be 'name n1 n2', got {text!r}")
            a = lfw_image(fields[0], _int_field(fields[1], path, no, "image number"))
            b = lfw_image(fields[0], _int_field(fields[2], path, no, "image number"))
        else:
            if len(fields) != 4:
                raise ProtocolError(f"{path}:{no}: fold {k + 1} different-person line must be "
                                 f"'name1 n1 name2 n2', got {text!r}")
            a = lfw_image(fields[0], _int_field(fields[1], path, no, "image number"))
            b = lfw_image(fields[2], _int_field(fields[3], path, no, "image number"))
        first.append(a)
        second.append(b)
        fold.append(k)
        same.append(pos < per)
        line.append(no)
    return PairList(first, second, np.array(fold), np.array(same, bool), np.array(line))


def _pair_matrix(mat, var, mat_path, n_images):
    if var not in mat:
        raise ProtocolError(f"{mat_path}: variable {var!r} is missing")
    a = np.asarray(mat[var])
    if a.ndim != 2 or 2 not in a.shape:
        raise ProtocolError(f"{mat_path}: {var} must be 2xN or Nx2, got shape {a.shape}")
    a = a if a.shape[0] == 2 else a.T
    if a.size and (a.min() < 1 or a.max() > n_images):
        raise ProtocolError(f"{mat_path}: {var} has indices outside 1..{n_images} (the image list length)")
    return a.astype(np.int64) - 1


def read_pairs_mat(mat_path, names, n_folds=10):
    """LightCNN form: ``pos_pair`` / ``neg_pair`` (2xN or Nx2, 1-based rows of ``names``, the image list).

    Pairs are returned in ``pairs.txt`` order, which these files keep: fold k holds the k-th of ``n_folds``
    equal consecutive chunks of ``pos_pair``, then the k-th chunk of ``neg_pair``.
    """
    import scipy.io

    try:
        mat = scipy.io.loadmat(mat_path)
    except (OSError, ValueError) as exc:
        raise ProtocolError(f"{mat_path}: cannot read .mat file ({exc})") from None
    pos = _pair_matrix(mat, "pos_pair", mat_path, len(names))
    neg = _pair_matrix(mat, "neg_pair", mat_path, len(names))
    for var, a in (("pos_pair", pos), ("neg_pair", neg)):
        if a.shape[1] % n_folds:
            raise ProtocolError(f"{mat_path}: {var} has {a.shape[1]} pairs, not divisible into {n_folds} folds")
    first, second, fold, same, line = [], [], [], [], []
    for k in range(n_folds):
        for a, is_same in ((pos, True), (neg, False)):
            per = a.shape[1] // n_folds
            for col in range(k * per, (k + 1) * per):
                first.append(names[a[0, col]])
                second.append(names[a[1, col]])
                fold.append(k)
                same.append(is_same)
                line.append(col + 1)
    return PairList(first, second, np.array(fold), np.array(same, bool), np.array(line))


def is_mat(path):
    """True for a MATLAB .mat file (by its extension or its 'MATLAB' header)."""
    if str(path).lower().endswith(".mat"):
        return True
    try:
        with open(path, "rb") as f:
            return f.read(6) == b"MATLAB"
    except OSError:
        return False


def check_pairs(pairs, path):
    """Refuse a pair list the k-fold protocol cannot score: fewer than 2 folds, or a fold without both classes."""
    folds = np.unique(pairs.fold)
    if folds.size < 2:
        raise ProtocolError(f"{path}: {folds.size} fold(s); the k-fold protocol needs at least 2 (LFW pairs.txt "
                            f"header '<folds> <pairs per class>', e.g. '10\t300')")
    for k in folds:
        same = pairs.issame[pairs.fold == k]
        if same.all() or not same.any():
            raise ProtocolError(f"{path}: fold {k + 1} has no {'different' if same.all() else 'same'}-person pair; "
                                f"every fold needs both")
    return pairs


def drop_pairs(pairs, rows, bad_rows, path, example=None):
    """Remove the pairs touching any row in ``bad_rows`` -> (pairs, rows, number dropped).

    Refused (one line) when a fold is left without a same- or a different-person pair."""
    bad = np.zeros(int(rows.max()) + 1 if rows.size else 0, bool)
    bad[[r for r in bad_rows if r < bad.size]] = True
    keep = ~(bad[rows[:, 0]] | bad[rows[:, 1]]) if rows.size else np.ones(0, bool)
    n_drop = int((~keep).sum())
    if not n_drop:
        return pairs, rows, 0
    kept = PairList([a for a, k in zip(pairs.first, keep) if k], [b for b, k in zip(pairs.second, keep) if k],
                    pairs.fold[keep], pairs.issame[keep], pairs.line[keep])
    for k in np.unique(pairs.fold):
        same = kept.issame[kept.fold == k]
        if same.all() or not same.any():
            what = "pair" if same.size == 0 else ("different-person pair" if same.all() else "same-person pair")
            eg = f" (e.g. {example})" if example else ""
            raise ProtocolError(f"{path}: {n_drop} pairs touch the {len(bad_rows)} unreadable image(s){eg}; fold "
                                f"{k + 1} is left without a {what}, too few to score")
    return kept, rows[keep], n_drop


def pair_indices(names, pairs, pairs_path):
    """Rows of ``names`` for each pair, matched by :func:`image_key`; a missing image is a one-line error."""
    index = key_index(names, "image list")
    rows = np.empty((len(pairs.first), 2), dtype=np.int64)
    for i, (a, b) in enumerate(zip(pairs.first, pairs.second)):
        for j, p in enumerate((a, b)):
            r = index.get(image_key(p))
            if r is None:
                raise ProtocolError(f"{pairs_path}:{pairs.line[i]}: image {p} is not in the image list")
            rows[i, j] = r
    return rows


def cosine_scores(embeddings, rows):
    """Cosine similarity of L2-normalised embeddings for each (row_a, row_b)."""
    e = l2_normalize(embeddings)
    return np.einsum("ij,ij->i", e[rows[:, 0]], e[rows[:, 1]])


def best_threshold(scores, labels):
    """Threshold maximising accuracy (accept ``score >= t``) and that accuracy.

    Candidates: the lowest score (accept all) and every midpoint between consecutive distinct scores;
    among equally accurate candidates the smallest threshold wins.
    """
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels, bool)
    uniq, inv = np.unique(scores, return_inverse=True)
    pos_le = np.cumsum(np.bincount(inv, weights=labels, minlength=uniq.size))
    neg_le = np.cumsum(np.bincount(inv, weights=~labels, minlength=uniq.size))
    n_pos = labels.sum()
    correct = np.r_[n_pos, neg_le[:-1] + n_pos - pos_le[:-1]]  # reject nothing, then reject <= uniq[i]
    cand = np.r_[uniq[0], (uniq[:-1] + uniq[1:]) / 2.0]
    best = int(np.argmax(correct))
    return float(cand[best]), float(correct[best] / labels.size)


def kfold_accuracy(scores, labels, fold):
    """Accuracy per fold with the :func:`best_threshold` of the other folds.

    Returns mean and std (population, ddof=0, as facenet/insightface print) of the fold accuracies, the
    fold accuracies and the per-fold thresholds.
    """
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels, bool)
    fold = np.asarray(fold)
    accs, thrs = [], []
    for k in np.unique(fold):
        test = fold == k
        thr, _ = best_threshold(scores[~test], labels[~test])
        accs.append(float(np.mean((scores[test] >= thr) == labels[test])))
        thrs.append(thr)
    return {"accuracy_mean": float(np.mean(accs)), "accuracy_std": float(np.std(accs)),
            "fold_accuracies": accs, "fold_thresholds": thrs}


def kfold_ids(n, n_folds=10):
    """Fold of each of n items split into consecutive folds, the first ``n % n_folds`` one larger (KFold)."""
    sizes = np.full(n_folds, n // n_folds)
    sizes[: n % n_folds] += 1
    return np.repeat(np.arange(n_folds), sizes)
