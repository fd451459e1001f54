"""Numpy-only face verification protocols: roc, lfw, blufr, binsets, plots, listfile.

Bad input files raise :class:`ProtocolError`, a :class:`common.core.errors.FaceIdError` (one line naming the file)
that is also a ``ValueError`` for callers that catch that.
"""
from common.core.errors import FaceIdError


class ProtocolError(FaceIdError, ValueError):
    """A pairs / .bin / list / config file (or embeddings) unfit for a protocol; one line naming the file."""
