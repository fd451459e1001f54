"""insightface verification sets (``lfw.bin``, ``cfp_fp.bin``, ...): safe loading and the insightface protocol.

A .bin is a pickle of (list of 2N encoded JPEG/PNG images, N issame flags); pair i is images 2i and 2i+1.
It is read with a restricted unpickler that only admits the numpy pieces an issame array needs, plus the
latin-1 ``_codecs.encode`` through which pickle protocols 0-2 (Python 3 writers) store ``bytes``; every other
global (``os.system``, ``builtins.eval``, ``getattr``, any other module) is refused before it is looked up.

Folds (any pair order is scored): the genuine pairs, in file order, are cut into ``n_folds`` consecutive
chunks (the first ``n % n_folds`` one larger, as ``KFold``), and so are the impostor pairs; fold k holds the
k-th genuine and the k-th impostor chunk. On files in insightface order (each tenth of the file holds equal
numbers of same and different pairs, as every published .bin: lfw, cfp_fp, agedb_30, calfw, cplfw, vgg2_fp)
these are exactly the consecutive ``KFold`` folds insightface uses; a file stored class by class (all same
pairs, then all different) still gets folds holding both classes. A set with fewer than ``n_folds`` pairs of
either class is refused (:func:`check_issame`) before anything is embedded.
"""
import pickle

import numpy as np

from common.protocols import ProtocolError
from common.protocols.lfw import kfold_accuracy, kfold_ids
from common.protocols.listfile import l2_normalize
from common.protocols.roc import threshold_for_far, val_far

# globals a .bin may name: what numpy needs to rebuild a bool array (checked on small_lfw.bin) ...
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),  # pickles written by numpy >= 2
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}
# ... and those replaced by a checked stand-in: bytes in protocols 0-2, numpy scalars (np.bool_ flags)
_GUARDED = {("_codecs", "encode"), ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}
_RENAMED = {"numpy._core.multiarray": "numpy.core.multiarray", "numpy.core.multiarray": "numpy._core.multiarray"}
VAL_GRID = np.arange(0.0, 4.0, 0.001)  # squared-L2 thresholds for VAL (insightface calculate_val)


class _SafeUnpickler(pickle.Unpickler):
    """Unpickler refusing every global outside ``_ALLOWED`` and ``_GUARDED``."""

    def __init__(self, f, path):
        super().__init__(f, encoding="bytes")
        self.path = path

    def find_class(self, module, name):
        if (module, name) == ("_codecs", "encode"):
            return self._latin1_bytes
        if (module, name) in _GUARDED:
            return self._number_scalar
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{self.path}: refusing to load {module}.{name} from the pickle "
                                         f"(a .bin may only hold image bytes and a bool array)")
        return self._numpy(module, name)

    def _numpy(self, module, name):
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return super().find_class(_RENAMED[module], name)

    def _latin1_bytes(self, text, encoding="latin1"):
        """``_codecs.encode(text, 'latin1')``: how protocols 0-2 store bytes; any other use is refused."""
        if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "iso-8859-1"):
            raise pickle.UnpicklingError(f"{self.path}: refusing _codecs.encode({type(text).__name__}, "
                                         f"{encoding!r}) in the pickle (only latin-1 text to bytes is allowed)")
        return text.encode("latin1")

    def _number_scalar(self, dtype, *data):
        """``numpy...multiarray.scalar(dtype, raw)`` for bool / integer / float dtypes only (np.bool_ flags)."""
        if not isinstance(dtype, np.dtype) or dtype.kind not in "biuf" or not all(isinstance(d, bytes) for d in data):
            raise pickle.UnpicklingError(f"{self.path}: refusing a numpy scalar of dtype {dtype!r} in the pickle")
        return self._numpy("numpy.core.multiarray", "scalar")(dtype, *data)


def _unpickle(path):
    try:
        with open(path, "rb") as f:
            return _SafeUnpickler(f, path).load()
    except OSError as exc:
        raise ProtocolError(f"{path}: cannot read ({exc.strerror})") from None
    except EOFError:
        raise ProtocolError(f"{path}: truncated .bin (the pickle ends early)") from None
    except pickle.UnpicklingError as exc:
        msg = str(exc)
        if msg.startswith(str(path)):
            raise ProtocolError(msg) from None
        if "truncated" in msg:
            raise ProtocolError(f"{path}: truncated .bin (the pickle ends early)") from None
        raise ProtocolError(f"{path}: not an insightface .bin pickle ({msg})") from None
    except Exception as exc:  # malformed opcode streams raise assorted errors
        raise ProtocolError(f"{path}: not an insightface .bin pickle ({type(exc).__name__}: {exc})") from None


def load_raw(path):
    """Unpickle and check the layout; returns (list of encoded images, issame bool array)."""
    obj = _unpickle(path)
    if not isinstance(obj, (tuple, list)) or len(obj) != 2:
        raise ProtocolError(f"{path}: expected a pickled (images, issame) pair, got {type(obj).__name__}")
    bins, issame = obj
    issame = np.asarray(issame)
    if issame.ndim != 1 or issame.dtype.kind not in "bi":
        raise ProtocolError(f"{path}: issame must be a flat list of bools, got dtype {issame.dtype}")
    if not isinstance(bins, (list, tuple)) or len(bins) != 2 * issame.size:
        raise ProtocolError(f"{path}: need a list of 2 images per pair for {issame.size} pairs")
    return bins, issame.astype(bool)


_load_raw = load_raw  # older name


def load_issame(path):
    """Only the issame flags of a .bin (no image decoding)."""
    return load_raw(path)[1]


def load_bin(path, unreadable=None):
    """Return (list of HxWx3 uint8 RGB images, issame bool array of length N).

    An image that cannot be decoded is an error naming its index, unless a list is passed as ``unreadable``:
    then its index is appended there and its entry is None.
    """
    import cv2

    bins, issame = load_raw(path)
    images = []
    for i, b in enumerate(bins):
        if not isinstance(b, (bytes, bytearray, np.ndarray)):
            raise ProtocolError(f"{path}: image {i} is a {type(b).__name__}, not encoded bytes")
        buf = np.frombuffer(bytes(b), np.uint8)
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
        if img is None:
            if unreadable is None:
                raise ProtocolError(f"{path}: image {i} cannot be decoded (corrupt or not JPEG/PNG)")
            unreadable.append(i)
            images.append(None)
            continue
        images.append(np.ascontiguousarray(img[:, :, ::-1]))
    return images, issame


def write_bin(path, images_bytes, issame):
    """Write a .bin: pickle of (list of encoded image bytes, list of bools)."""
    images_bytes = [bytes(b) for b in images_bytes]
    issame = [bool(s) for s in issame]
    if len(images_bytes) != 2 * len(issame):
        raise ProtocolError(f"{path}: {len(images_bytes)} images for {len(issame)} pairs (need 2 per pair)")
    with open(path, "wb") as f:
        pickle.dump((images_bytes, issame), f, protocol=4)


def pair_distances(emb):
    """Squared L2 distance between L2-normalised rows 2i and 2i+1 (0..4)."""
    e = l2_normalize(emb)
    return np.sum((e[0::2] - e[1::2]) ** 2, axis=1)


def stratified_folds(issame, n_folds=10):
    """Fold of each pair: the k-th consecutive chunk of the genuine pairs and of the impostor pairs (module doc)."""
    issame = np.asarray(issame, bool)
    folds = np.empty(issame.size, np.int64)
    for cls in (True, False):
        idx = np.flatnonzero(issame == cls)
        folds[idx] = kfold_ids(idx.size, n_folds)
    return folds


def check_issame(issame, path, n_folds=10, dropped=""):
    """Refuse flags the ``n_folds``-fold protocol cannot score: every fold needs a genuine and an impostor pair.

    ``dropped`` is said in the message (e.g. ", after dropping 12 pairs with unreadable images")."""
    issame = np.asarray(issame, bool)
    n_gen = int(issame.sum())
    n_imp = int(issame.size - n_gen)
    if n_gen == 0 or n_imp == 0:
        kind = "same-person (issame=True)" if n_imp == 0 else "different-person (issame=False)"
        raise ProtocolError(f"{path}: all {issame.size} pairs{dropped} are {kind}; the verification protocol needs "
                            f"both same- and different-person pairs")
    if min(n_gen, n_imp) < n_folds:
        raise ProtocolError(f"{path}: {n_gen} same-person and {n_imp} different-person pairs{dropped}; the "
                            f"{n_folds}-fold protocol needs at least {n_folds} of each")
    return issame


def min_train_impostors(issame, folds):
    """Fewest impostor pairs in any training split (all folds but one)."""
    issame, folds = np.asarray(issame, bool), np.asarray(folds)
    n_imp = int((~issame).sum())
    return min(n_imp - int(np.sum(~issame & (folds == k))) for k in np.unique(folds))


def val_reportable(issame, folds, far_target):
    """(True, "") when every training split has at least 1/FAR impostor pairs, else (False, reason).

    A FAR of 1e-3 is only reachable (not a rounding of zero false accepts) with 1000 impostor scores to set the
    threshold on; with fewer, VAL@FAR would silently be VAL@FAR=0."""
    need = int(np.ceil(1.0 / far_target - 1e-9))
    have = min_train_impostors(issame, folds)
    if have >= need:
        return True, ""
    return False, (f"n/a: FAR={far_target:g} needs >= {need} impostor pairs in every training split, "
                   f"the fewest is {have}")


def _protocol(emb, issame, folds, far_target):
    """10-fold accuracy and VAL@FAR on the pair distances."""
    dist = pair_distances(emb)
    acc = kfold_accuracy(-dist, issame, folds)  # score = -distance: accept distance <= threshold
    acc["fold_thresholds"] = [-t for t in acc["fold_thresholds"]]
    ok, reason = val_reportable(issame, folds, far_target)
    if not ok:
        nan = float("nan")  # written as null in the result JSON
        return acc, {"val_mean": nan, "val_std": nan, "far_mean": nan, "n/a": reason}
    vals, fars = [], []
    for k in np.unique(folds):
        train = folds != k
        thr = threshold_for_far(-dist[train], issame[train], far_target, -VAL_GRID)
        v, f = val_far(-dist[~train], issame[~train], thr)
        vals.append(v)
        fars.append(f)
    val = {"val_mean": float(np.mean(vals)), "val_std": float(np.std(vals)), "far_mean": float(np.mean(fars))}
    return acc, val


def verification_metrics(emb, emb_flip, issame, n_folds=10, far_target=1e-3, source="embeddings"):
    """insightface ``verification.test`` on precomputed embeddings (rows 2i, 2i+1 form pair i).

    * folds: :func:`stratified_folds` (module doc): insightface's consecutive ``KFold`` folds on files in
      insightface order, folds keeping both classes on any other order.
    * accuracy: L2-normalised embeddings, squared L2 distance; per fold the distance threshold maximising
      accuracy on the other folds, chosen among the midpoints between consecutive distinct training distances
      (ties: the largest distance). Accept distance <= threshold. Mean and std (ddof=0) of fold accuracies.
    * accuracy_flip: the same on ``emb + emb_flip`` (original plus horizontally flipped image).
    * VAL@FAR: per fold, FAR of the training pairs on the grid 0..4 step 0.001, threshold interpolated at
      ``far_target`` (:func:`common.protocols.roc.threshold_for_far`), VAL and FAR measured on the test fold.
      Reported only when every training split holds at least 1/FAR impostor pairs (:func:`val_reportable`);
      otherwise val_mean/val_std/far_mean are NaN (null in JSON) and ``"n/a"`` gives the reason.
    * xnorm: mean L2 norm of all raw embeddings given (original and flipped).
    """
    emb = np.asarray(emb, np.float64)
    issame = np.asarray(issame, bool)
    if emb.ndim != 2 or emb.shape[0] != 2 * issame.size:
        raise ProtocolError(f"{source}: need 2 embeddings per pair: {issame.size} pairs, embeddings of shape "
                            f"{emb.shape}")
    check_issame(issame, source, n_folds)
    folds = stratified_folds(issame, n_folds)
    sets = {"": emb}
    norms = [np.linalg.norm(emb, axis=1)]
    if emb_flip is not None:
        emb_flip = np.asarray(emb_flip, np.float64)
        if emb_flip.shape != emb.shape:
            raise ProtocolError(f"{source}: flip embeddings {emb_flip.shape} differ from embeddings {emb.shape}")
        sets["_flip"] = emb + emb_flip
        norms.append(np.linalg.norm(emb_flip, axis=1))
    out = {"pairs": int(issame.size), "folds": n_folds, "xnorm": float(np.mean(np.concatenate(norms)))}
    for suffix, e in sets.items():
        acc, val = _protocol(e, issame, folds, far_target)
        out["accuracy" + suffix] = acc
        out[f"VAL@FAR={far_target:g}" + suffix] = val
    return out
