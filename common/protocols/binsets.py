"""insightface verification sets (``lfw.bin``, ``cfp_fp.bin``, ...): safe loading and the insightface protocol.

A .bin is a pickle of (list of 2N encoded JPEG/PNG images, N issame flags); pair i is images 2i and 2i+1.
It is read with a restricted unpickler that only admits the numpy pieces an issame array needs.
"""
import pickle

import numpy as np

from common.protocols.lfw import kfold_accuracy, kfold_ids
from common.protocols.listfile import l2_normalize
from common.protocols.roc import threshold_for_far, val_far

# globals a .bin may name: what numpy needs to rebuild a bool array (checked on small_lfw.bin)
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),  # pickles written by numpy >= 2
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}
_RENAMED = {"numpy._core.multiarray": "numpy.core.multiarray", "numpy.core.multiarray": "numpy._core.multiarray"}
VAL_GRID = np.arange(0.0, 4.0, 0.001)  # squared-L2 thresholds for VAL (insightface calculate_val)


class _SafeUnpickler(pickle.Unpickler):
    """Unpickler refusing every global outside ``_ALLOWED``."""

    def __init__(self, f, path):
        super().__init__(f, encoding="bytes")
        self.path = path

    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{self.path}: refusing to load {module}.{name} from the pickle "
                                         f"(a .bin may only hold image bytes and a bool array)")
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return super().find_class(_RENAMED[module], name)


def _unpickle(path):
    try:
        with open(path, "rb") as f:
            return _SafeUnpickler(f, path).load()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror})") from None
    except EOFError:
        raise ValueError(f"{path}: truncated .bin (the pickle ends early)") from None
    except pickle.UnpicklingError as exc:
        msg = str(exc)
        if msg.startswith(str(path)):
            raise ValueError(msg) from None
        if "truncated" in msg:
            raise ValueError(f"{path}: truncated .bin (the pickle ends early)") from None
        raise ValueError(f"{path}: not an insightface .bin pickle ({msg})") from None
    except Exception as exc:  # malformed opcode streams raise assorted errors
        raise ValueError(f"{path}: not an insightface .bin pickle ({type(exc).__name__}: {exc})") from None


def _load_raw(path):
    """Unpickle and check the layout; returns (list of encoded images, issame bool array)."""
    obj = _unpickle(path)
    if not isinstance(obj, (tuple, list)) or len(obj) != 2:
        raise ValueError(f"{path}: expected a pickled (images, issame) pair, got {type(obj).__name__}")
    bins, issame = obj
    issame = np.asarray(issame)
    if issame.ndim != 1 or issame.dtype.kind not in "bi":
        raise ValueError(f"{path}: issame must be a flat list of bools, got dtype {issame.dtype}")
    if not isinstance(bins, (list, tuple)) or len(bins) != 2 * issame.size:
        raise ValueError(f"{path}: need a list of 2 images per pair for {issame.size} pairs")
    return bins, issame.astype(bool)


def load_issame(path):
    """Only the issame flags of a .bin (no image decoding)."""
    return _load_raw(path)[1]


def load_bin(path):
    """Return (list of HxWx3 uint8 RGB images, issame bool array of length N)."""
    import cv2

    bins, issame = _load_raw(path)
    images = []
    for i, b in enumerate(bins):
        if not isinstance(b, (bytes, bytearray, np.ndarray)):
            raise ValueError(f"{path}: image {i} is a {type(b).__name__}, not encoded bytes")
        img = cv2.imdecode(np.frombuffer(bytes(b), np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{path}: image {i} cannot be decoded (corrupt or not JPEG/PNG)")
        images.append(np.ascontiguousarray(img[:, :, ::-1]))
    return images, issame


def write_bin(path, images_bytes, issame):
    """Write a .bin: pickle of (list of encoded image bytes, list of bools)."""
    images_bytes = [bytes(b) for b in images_bytes]
    issame = [bool(s) for s in issame]
    if len(images_bytes) != 2 * len(issame):
        raise ValueError(f"{path}: {len(images_bytes)} images for {len(issame)} pairs (need 2 per pair)")
    with open(path, "wb") as f:
        pickle.dump((images_bytes, issame), f, protocol=4)


def pair_distances(emb):
    """Squared L2 distance between L2-normalised rows 2i and 2i+1 (0..4)."""
    e = l2_normalize(emb)
    return np.sum((e[0::2] - e[1::2]) ** 2, axis=1)


def _protocol(emb, issame, folds, far_target):
    """10-fold accuracy and VAL@FAR on the pair distances."""
    dist = pair_distances(emb)
    acc = kfold_accuracy(-dist, issame, folds)  # score = -distance: accept distance <= threshold
    acc["fold_thresholds"] = [-t for t in acc["fold_thresholds"]]
    vals, fars = [], []
    for k in np.unique(folds):
        train = folds != k
        thr = threshold_for_far(-dist[train], issame[train], far_target, -VAL_GRID)
        v, f = val_far(-dist[~train], issame[~train], thr)
        vals.append(v)
        fars.append(f)
    val = {"val_mean": float(np.mean(vals)), "val_std": float(np.std(vals)), "far_mean": float(np.mean(fars))}
    return acc, val


def verification_metrics(emb, emb_flip, issame, n_folds=10, far_target=1e-3):
    """insightface ``verification.test`` on precomputed embeddings (rows 2i, 2i+1 form pair i).

    * accuracy: L2-normalised embeddings, squared L2 distance, consecutive folds (``KFold(n_folds)`` without
      shuffle); per fold the distance threshold maximising accuracy on the other folds, chosen among the
      midpoints between consecutive distinct training distances (ties: the largest distance). Accept
      distance <= threshold. Mean and std (ddof=0) of fold accuracies.
    * accuracy_flip: the same on ``emb + emb_flip`` (original plus horizontally flipped image).
    * VAL@FAR: per fold, FAR of the training pairs on the grid 0..4 step 0.001, threshold interpolated at
      ``far_target`` (:func:`common.protocols.roc.threshold_for_far`), VAL and FAR measured on the test fold.
    * xnorm: mean L2 norm of all raw embeddings given (original and flipped).
    """
    emb = np.asarray(emb, np.float64)
    issame = np.asarray(issame, bool)
    if emb.ndim != 2 or emb.shape[0] != 2 * issame.size:
        raise ValueError(f"need 2 embeddings per pair: {issame.size} pairs, embeddings of shape {emb.shape}")
    folds = kfold_ids(issame.size, n_folds)
    sets = {"": emb}
    norms = [np.linalg.norm(emb, axis=1)]
    if emb_flip is not None:
        emb_flip = np.asarray(emb_flip, np.float64)
        if emb_flip.shape != emb.shape:
            raise ValueError(f"flip embeddings {emb_flip.shape} differ from embeddings {emb.shape}")
        sets["_flip"] = emb + emb_flip
        norms.append(np.linalg.norm(emb_flip, axis=1))
    out = {"pairs": int(issame.size), "folds": n_folds, "xnorm": float(np.mean(np.concatenate(norms)))}
    for suffix, e in sets.items():
        acc, val = _protocol(e, issame, folds, far_target)
        out["accuracy" + suffix] = acc
        out[f"VAL@FAR={far_target:g}" + suffix] = val
    return out
