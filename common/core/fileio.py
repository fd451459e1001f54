"""Writing output files whole or not at all: a temporary file in the same folder, then one rename.

A reader never sees a half-written result; an exception or Ctrl-C leaves the previous file (or none) and removes the
temporary file (only a killed process leaves a ``.tmp_*`` file); the result gets the usual permissions (umask), not
mkstemp's 0600.
"""
import json
import os
import tempfile

from common.core.errors import FaceIdError


class WriteError(FaceIdError, OSError):
    """An output that could not be written (read-only folder, not a folder, disk full): one line naming the path.
    Also an OSError, so callers that handle OSError keep working."""


def atomic_write(path, write, text=False):
    """Call ``write(f)`` on a temporary file beside ``path`` (binary, or UTF-8 text), then rename it to ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp_", suffix=os.path.splitext(path)[1])
        with (os.fdopen(fd, "w", encoding="utf-8") if text else os.fdopen(fd, "wb")) as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise WriteError(f"{path}: cannot write ({exc.strerror or exc})") from None
        raise
    return path


def write_text_atomic(path, text):
    """``text`` (str) to ``path``, whole or not at all."""
    return atomic_write(path, lambda f: f.write(text), text=True)


def write_json_atomic(path, data, indent=1, **dump_args):
    """``data`` as JSON (ending in a newline) to ``path``, whole or not at all."""
    return write_text_atomic(path, json.dumps(data, indent=indent, **dump_args) + "\n")
