"""Training image sets: identity folders (``root/<identity>/<image>``) and list files.

A list file has one ``relative/path label`` per line (the MS-Celeb-1M_clean_list.txt
format); paths are relative to ``root``. Both return (paths, labels, class_names).
"""
import os

from common.core.errors import FaceIdError
from common.data.images import IMAGE_EXTS



def scan_folder(root):
    """Identity folders -> absolute paths, int labels (sorted folder order), class names."""
    if not os.path.isdir(root):
        raise FaceIdError(f"{root}: training folder not found")
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    paths, labels = [], []
    for label, name in enumerate(classes):
        d = os.path.join(root, name)
        for f in sorted(os.listdir(d)):
            if f.lower().endswith(IMAGE_EXTS):
                paths.append(os.path.join(d, f))
                labels.append(label)
    if not paths:
        raise FaceIdError(f"{root}: no images found (expected {root}/<identity>/<image>.jpg)")
    return paths, labels, classes


def read_list(list_file, root=None):
    """``relative/path label`` lines -> absolute paths, int labels, class names (label strings)."""
    if not os.path.isfile(list_file):
        raise FaceIdError(f"{list_file}: list file not found")
    root = root if root is not None else os.path.dirname(os.path.abspath(list_file))
    paths, labels = [], []
    try:
        with open(list_file, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError:
        raise FaceIdError(f"{list_file}: not a text list file (binary content)") from None
    except OSError as exc:
        raise FaceIdError(f"{list_file}: cannot read ({exc.strerror})") from None
    for n, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise FaceIdError(f"{list_file}:{n}: expected 'relative/path label', got {line.strip()!r}")
        paths.append(os.path.join(root, parts[0]))
        labels.append(int(parts[1]))
    if not paths:
        raise FaceIdError(f"{list_file}: empty list")
    num = max(labels) + 1
    return paths, labels, [str(i) for i in range(num)]


def load_training_set(root=None, list_file=None):
    """Pick the source: a list file (with ``root`` as its base) or an identity-folder tree."""
    if list_file:
        return read_list(list_file, root)
    if root:
        return scan_folder(root)
    raise FaceIdError("no training data: pass --train_root DIR (identity folders) or --train_list FILE")
