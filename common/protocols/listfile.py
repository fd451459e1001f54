"""Image list files (one relative path per line, optional label column) and image-name matching."""
import os

import numpy as np

from common.protocols import ProtocolError

def read_image_list(path):
    """Return (paths, labels) from a list file; labels is None when no line has a second column.

    Blank lines are allowed only at the end. Errors are one line naming the file and line.
    """
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise ProtocolError(f"{path}: cannot read image list ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ProtocolError(f"{path}: not a text image list (binary content)") from None
    while lines and not lines[-1].strip():
        lines.pop()
    paths, labels = [], []
    for no, line in enumerate(lines, 1):
        fields = line.split()
        if not 1 <= len(fields) <= 2:
            raise ProtocolError(f"{path}:{no}: expected 'relative/path [label]', got {line.strip()!r}")
        paths.append(fields[0])
        labels.append(fields[1] if len(fields) == 2 else None)
    if not paths:
        raise ProtocolError(f"{path}: image list is empty")
    has = [lab is not None for lab in labels]
    if any(has) and not all(has):
        raise ProtocolError(f"{path}:{has.index(not has[0]) + 1}: some lines have a label column and some do not")
    return paths, (labels if all(has) else None)


def image_key(path):
    """Name used to match images across files: the file name without folders and extension.

    ``lfw/Abel_Pacheco/Abel_Pacheco_0001.jpg``, ``Abel_Pacheco_0001.bmp`` -> ``Abel_Pacheco_0001``.
    """
    return os.path.splitext(os.path.basename(path.replace("\\", "/")))[0]


def key_index(paths, source):
    """Map image_key -> row index; a duplicated key is an error naming ``source``."""
    index = {}
    for i, p in enumerate(paths):
        k = image_key(p)
        if k in index:
            raise ProtocolError(f"{source}: image {k} appears twice (rows {index[k] + 1} and {i + 1})")
        index[k] = i
    return index


def l2_normalize(x):
    """Rows divided by their L2 norm (zero rows stay zero), float64."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ProtocolError(f"embeddings must be 2-D (N, D), got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)
