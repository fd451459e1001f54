"""Output-path safety: an output never replaces one of the run's inputs.

    check_output(out, *inputs)   # FaceIdError naming both when ``out`` is (or links to) one of ``inputs``

Call it for every file a command will write, before anything is computed or written. Inputs may be files or
folders (a folder input refuses every output path equal to it); ``None`` entries are ignored.
"""
import os

from common.core.errors import FaceIdError

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository
PROTOCOLS_DIR = os.path.join(REPO_ROOT, "protocols")  # the shipped protocol files (LFW pairs, BLUFR config)


def _same(a, b):
    """True when paths ``a`` and ``b`` name the same file: same resolved path, or (both existing) samefile."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links, bind mounts
    except OSError:
        return False


def check_output(out, *inputs, what="output"):
    """Refuse ``out`` when it is one of ``inputs`` (or an existing folder); returns ``out`` unchanged.

    ``inputs`` may hold paths or iterables of paths (e.g. the list of evaluated images).
    """
    if out is None:
        return out
    out = os.fspath(out)
    if os.path.isdir(out):
        raise FaceIdError(f"{out}: {what} path is an existing folder; give a file name")
    for item in inputs:
        group = [item] if item is None or isinstance(item, (str, bytes, os.PathLike)) else item
        for src in group:
            if src is not None and _same(out, os.fspath(src)):
                raise FaceIdError(f"{out}: {what} path is also an input ({os.fspath(src)}); refusing to overwrite it, "
                                  f"give another output name")
    return out
