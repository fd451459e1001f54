"""Eval sets and targets, loaded one way for the eval flow and the training-time verification.

    target_names("lfw, cfp_fp")              # ["lfw", "cfp_fp"] (a list, or comma-separated text)
    bin_file(bin_dir, "lfw", "--bin_dir")    # DIR/lfw.bin, refused in one line when missing
    s = load_bin_set(path)                   # BinSet: issame checked, s.images decoded by bin_image()
    f = load_folder_set(data_root, pairs)    # FolderSet: pairs checked, every image found (nothing decoded)

A .bin image is decoded by :func:`bin_image` only (through :func:`common.data.images.decode_image`, as colour,
re-encoded losslessly as PNG), so the model's one preprocessing path sees the same pixels in eval
(:func:`common.evaluation.targets.bin_set`) and in training (:mod:`common.train.verification`): the same network
gives the same verification accuracy in both.

LFW-format folders: ``name/name_%04d`` with any of the extensions in :data:`IMAGE_EXTS`, directly under
``data_root`` or under its single subfolder (``LFW_112/pairs.txt`` + ``LFW_112/lfw_align_112/<name>/...``).
Without ``pairs.txt`` in the folder (and none given) the shipped ``protocols/lfw_pairs.txt`` is used.
"""
import os

import numpy as np

from common.core.errors import FaceIdError
from common.core.paths import REPO_ROOT as ROOT
from common.data.images import IMAGE_EXTS, ImageError, decode_image
from common.evaluation.scoring import read_lfw_pairs
from common.protocols import binsets
from common.protocols.lfw import is_mat
from common.protocols.listfile import read_image_list

SHIPPED_PAIRS = os.path.join(ROOT, "protocols", "lfw_pairs.txt")


def find_pairs(data_root, pairs_path=None, log=print):
    """``pairs_path`` if given; else ``pairs.txt`` in ``data_root`` (or in its single image subfolder); else the
    shipped LFW View 2 pairs (said in one line)."""
    if pairs_path:
        return pairs_path
    for folder in dict.fromkeys([data_root, _single_subfolder(data_root)]):
        if folder and os.path.isfile(os.path.join(folder, "pairs.txt")):
            return os.path.join(folder, "pairs.txt")
    log(f"{data_root}: no pairs.txt in the folder; using the shipped LFW View 2 pairs {SHIPPED_PAIRS}")
    return SHIPPED_PAIRS


def _single_subfolder(root):
    try:
        subs = [d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith(".")]
    except OSError:
        return None
    return os.path.join(root, subs[0]) if len(subs) == 1 else None


def image_root(data_root, rel_names):
    """Folder holding the identity folders the relative names start with: ``data_root`` or its single subfolder."""
    if not os.path.isdir(data_root):
        raise FaceIdError(f"{data_root}: image folder not found")
    idents = [n.split("/")[0] for n in rel_names[:50] if "/" in n]
    if not idents or any(os.path.isdir(os.path.join(data_root, d)) for d in idents):
        return data_root
    sub = _single_subfolder(data_root)
    if sub and any(os.path.isdir(os.path.join(sub, d)) for d in idents):
        return sub
    return data_root


def resolve_images(root, rel_names):
    """Actual file of each relative name under ``root``: the name itself, or the same stem with another image
    extension (.jpg/.jpeg/.png/.bmp/.webp, any case). None where there is none."""
    listing = {}
    out = []
    for rel in rel_names:
        path = os.path.join(root, rel)
        if os.path.isfile(path):
            out.append(path)
            continue
        folder, base = os.path.split(path)
        if folder not in listing:
            files = {}
            try:
                for f in sorted(os.listdir(folder)):
                    stem, ext = os.path.splitext(f)
                    if ext.lower() in IMAGE_EXTS:
                        files.setdefault(stem, []).append(f)
            except OSError:
                pass
            for stem in files:
                files[stem].sort(key=lambda f: IMAGE_EXTS.index(os.path.splitext(f)[1].lower()))
            listing[folder] = files
        found = listing[folder].get(os.path.splitext(base)[0])
        out.append(os.path.join(folder, found[0]) if found else None)
    return out


def find_image_list(data_root, pairs_path, image_list=None, name="image_list_for_lfw.txt"):
    """The image list a LightCNN ``lfw_pairs.mat`` indexes: ``image_list``, else ``name`` in the image folder, its
    parent, beside the .mat or in the current folder (the seed's layout); one line saying what is needed else."""
    if image_list:
        if not os.path.isfile(image_list):
            raise FaceIdError(f"--image_list {image_list}: file not found")
        return image_list
    root = os.path.abspath(data_root)
    for folder in (root, os.path.dirname(root), os.path.dirname(os.path.abspath(pairs_path)), os.getcwd()):
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    raise FaceIdError(f"{pairs_path}: a .mat pairs file indexes an image list: give --image_list {name} "
                      f"(LightCNN's get_list.py writes it)")


def pair_images(data_root, pairs_path=None, log=print, image_list=None):
    """Read ``pairs_path`` (LFW View 2; default :func:`find_pairs`), check it for the k-fold protocol and find every
    image it names under ``data_root`` (any image extension, or the single-subfolder layout).

    Returns (pairs, sorted relative names, absolute paths); one clear line on a bad file or a missing image.
    Nothing is decoded here."""
    pairs_path = find_pairs(data_root, pairs_path, log)
    if is_mat(pairs_path):  # LightCNN's lfw_pairs.mat: rows of image_list_for_lfw.txt, kept in list order
        names, _ = read_image_list(find_image_list(data_root, pairs_path, image_list))
        pairs = read_lfw_pairs(pairs_path, names)
    else:
        pairs = read_lfw_pairs(pairs_path)
        names = sorted(set(pairs.first) | set(pairs.second))
    root = image_root(data_root, names)
    paths = resolve_images(root, names)
    missing = [n for n, p in zip(names, paths) if p is None]
    if missing:
        raise FaceIdError(f"{pairs_path}: names {len(missing)} image(s) missing under {root}, e.g. {missing[0]} "
                          f"(any of {'/'.join(e[1:] for e in IMAGE_EXTS)})")
    return pairs, names, paths


def target_names(value, default=None):
    """Names of a target list: a list/tuple, or comma-separated text; ``default`` (same forms) when empty."""
    if isinstance(value, (list, tuple)):
        names = [str(v).strip() for v in value if str(v).strip()]
    else:
        names = [v.strip() for v in str(value or "").split(",") if v.strip()]
    return names if names or default is None else target_names(default)


def bin_file(bin_dir, name, option="--bin_dir"):
    """``bin_dir/<name>.bin``; one line naming the set and ``option`` when it is not there."""
    path = os.path.join(bin_dir, f"{name}.bin")
    if not os.path.isfile(path):
        raise FaceIdError(f"{path}: verification set '{name}' not found in {option} {bin_dir}")
    return path


def folder_name(data_root):
    """The name a folder target is known by: its base name."""
    return os.path.basename(os.path.normpath(data_root)) or "folder"


def bin_image(blob, bin_path, i):
    """The one decoding of a .bin image: :func:`decode_image` as colour, re-encoded losslessly as PNG, so the
    model's preprocessing (any channels / colour order) decodes the same pixels as decoding the original as
    colour. Bytes that do not decode are passed on unchanged (the embedding step reports them unreadable)."""
    if not isinstance(blob, (bytes, bytearray, np.ndarray)):
        raise FaceIdError(f"{bin_path}: image {i} is a {type(blob).__name__}, not encoded bytes")
    raw = bytes(blob)
    try:
        img = decode_image(raw, 3, name=f"{bin_path}: image {i}", color="bgr")
    except ImageError:
        return raw
    import cv2

    ok, out = cv2.imencode(".png", img)
    return out.tobytes() if ok else raw


class BinImages:
    """The images of a .bin as a sequence of what the embedding step reads: each decoded by :func:`bin_image`
    when it is taken (the raw bytes stay in memory, not the decoded copies)."""

    def __init__(self, blobs, bin_path):
        for i, b in enumerate(blobs):  # a non-bytes entry is refused now, before any embedding
            if not isinstance(b, (bytes, bytearray, np.ndarray)):
                raise FaceIdError(f"{bin_path}: image {i} is a {type(b).__name__}, not encoded bytes")
        self.blobs, self.path = list(blobs), bin_path

    def __len__(self):
        return len(self.blobs)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [bin_image(self.blobs[i], self.path, i) for i in range(*k.indices(len(self.blobs)))]
        i = range(len(self.blobs))[k]
        return bin_image(self.blobs[i], self.path, i)


class BinSet:
    """An insightface .bin: ``issame`` (checked for the protocol), ``images`` (:class:`BinImages`), ``names``
    (how each image is named in messages)."""

    def __init__(self, path, name=None):
        blobs, self.issame = binsets.load_raw(path)
        binsets.check_issame(self.issame, path)  # refused before any embedding
        self.path, self.name = path, name or os.path.splitext(os.path.basename(path))[0]
        self.images = BinImages(blobs, path)
        self.names = [f"{path}: image {i}" for i in range(len(self.images))]


def load_bin_set(path, name=None):
    return BinSet(path, name)


class FolderSet:
    """An LFW-format folder: ``pairs_path`` (:func:`find_pairs`), ``pairs`` (checked for the k-fold protocol),
    ``names`` (sorted relative names) and ``paths`` (the image file of each, found by :func:`pair_images`)."""

    def __init__(self, data_root, pairs_path=None, name=None, log=print, image_list=None):
        self.root, self.name = data_root, name or folder_name(data_root)
        self.pairs_path = find_pairs(data_root, pairs_path, log)
        self.pairs, self.names, self.paths = pair_images(data_root, self.pairs_path, log, image_list)


def load_folder_set(data_root, pairs_path=None, name=None, log=print, image_list=None):
    return FolderSet(data_root, pairs_path, name, log, image_list)
