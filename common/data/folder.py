"""Training image sets: identity folders (``root/<identity>/<image>``) and list files.

Identity folders are read recursively, as torchvision's ``ImageFolder`` does: every image anywhere under
``root/<identity>/`` (e.g. CFP's ``<id>/frontal/`` and ``<id>/profile/``, as ``common.align`` writes them) belongs
to that identity. A list file has one ``relative/path label`` per line (the MS-Celeb-1M_clean_list.txt format);
paths are relative to ``root``; sparse labels (e.g. 0..9 and 57) are remapped to 0..K-1 in label order, said in
one line with the count (the class names keep the original labels), never a head with unused classes; a negative
label is refused. Both return (paths, labels, class_names).
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
        found = []
        for dirpath, dirnames, files in os.walk(os.path.join(root, name), followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            found += [os.path.join(dirpath, f) for f in files if f.lower().endswith(IMAGE_EXTS)]
        found.sort()
        paths += found
        labels += [label] * len(found)
    if not paths:
        raise FaceIdError(f"{root}: no images found (expected {root}/<identity>/<image>.jpg)")
    return paths, labels, classes


def read_list(list_file, root=None, log=None):
    """``relative/path label`` lines -> absolute paths, int labels 0..K-1, class names (the label strings);
    sparse labels are remapped in label order (said through ``log``)."""
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
    if min(labels) < 0:
        n = labels.index(min(labels))
        raise FaceIdError(f"{list_file}: label {labels[n]} of {paths[n]} is negative; labels are 0, 1, 2, ...")
    used = sorted(set(labels))
    if len(used) != used[-1] + 1:
        dense = {lab: i for i, lab in enumerate(used)}
        (log or _say)(f"note: {list_file}: {len(used)} distinct labels between {used[0]} and {used[-1]} "
            f"({used[-1] + 1 - len(used)} unused): remapped to 0..{len(used) - 1} in label order "
            f"(a {len(used)}-class head, not {used[-1] + 1})")
        labels = [dense[lab] for lab in labels]
    return paths, labels, [str(lab) for lab in used]


def _say(msg):
    print(msg, flush=True)


def load_training_set(root=None, list_file=None):
    """Pick the source: a list file (with ``root`` as its base) or an identity-folder tree."""
    if list_file:
        return read_list(list_file, root)
    if root:
        return scan_folder(root)
    raise FaceIdError("no training data: pass --train_root DIR (identity folders) or --train_list FILE")
