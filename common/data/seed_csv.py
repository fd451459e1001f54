"""The old MindSpore FaceNet zoo's image CSV (``write_csv_for_making_triplets.py``) as a training list.

Its rows are ``id,name,class``: ``id`` the image file name without its extension, ``name`` the identity folder,
``class`` the identity's integer label (0..C-1, in name order). The image is ``ROOT/<name>/<id>.<ext>`` with any
image extension (the CSV does not keep it), ``ROOT`` being the folder the CSV was made from (``--train_root``).
"""
import csv
import os

from common.core.errors import FaceIdError
from common.data.images import IMAGE_EXTS

HEADER = ("id", "name", "class")


def read_seed_csv(path, root):
    """-> (absolute image paths, int labels, class names) in file order; one line naming the file on a problem."""
    if not os.path.isfile(path):
        raise FaceIdError(f"--train_csv {path}: file not found")
    if not root or not os.path.isdir(root):
        raise FaceIdError(f"--train_csv {path}: needs --train_root DIR, the folder the CSV was made from "
                          f"(<identity>/<image> inside)")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows or tuple(c.strip() for c in rows[0][:3]) != HEADER:
        raise FaceIdError(f"{path}:1: expected the header id,name,class (write_csv_for_making_triplets.py)")
    col = {c.strip(): i for i, c in enumerate(rows[0])}
    listing, paths, labels, names = {}, [], [], {}
    for no, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            image_id, name, label = row[col["id"]], row[col["name"]], int(row[col["class"]])
        except (IndexError, ValueError):
            raise FaceIdError(f"{path}:{no}: expected id,name,class with an integer class, got {row}") from None
        folder = os.path.join(root, name)
        if folder not in listing:
            try:
                files = sorted(os.listdir(folder))
            except OSError:
                raise FaceIdError(f"{path}:{no}: identity folder not found: {folder}") from None
            by_stem = {}
            for fname in files:
                stem, ext = os.path.splitext(fname)
                if ext.lower() in IMAGE_EXTS:
                    by_stem.setdefault(stem, fname)
            listing[folder] = by_stem
        fname = listing[folder].get(image_id)
        if fname is None:
            raise FaceIdError(f"{path}:{no}: image {image_id} not found in {folder}")
        if names.setdefault(label, name) != name:
            raise FaceIdError(f"{path}:{no}: class {label} is both {names[label]} and {name}")
        paths.append(os.path.join(folder, fname))
        labels.append(label)
    if not paths:
        raise FaceIdError(f"{path}: no image rows")
    classes = [names.get(i, str(i)) for i in range(max(labels) + 1)]
    return paths, labels, classes
