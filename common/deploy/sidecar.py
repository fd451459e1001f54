"""The JSON sidecar of an exported model (``<model file>.json``): path rule, atomic write, read, preprocessing.

Written by ``common.deploy.export.export_checked`` (see its module docstring for the fields); read by
``common.deploy.export.load_exported``, ``python -m common.infer310 preprocess --model`` and ``common/deploy/infer310_post.py``.
Nothing here imports MindSpore.
"""
import json
import os

from common.core.errors import FaceIdError
from common.core import fileio

SUFFIX_FORMAT = {".onnx": "ONNX", ".mindir": "MINDIR", ".air": "AIR"}


def sidecar_path(model_path):
    """The sidecar of an exported file: the file's full name + ``.json`` (``model.onnx`` -> ``model.onnx.json``)."""
    return str(model_path) + ".json"


def write_sidecar(model_path, data):
    """Write the sidecar of ``model_path`` (indented JSON), whole or not at all; returns its path."""
    return fileio.write_json_atomic(sidecar_path(model_path), data, indent=2)


def export_command(model_path):
    """The command that (re)writes an export with its sidecar."""
    stem, ext = os.path.splitext(str(model_path))
    fmt = SUFFIX_FORMAT.get(ext.lower(), "ONNX")
    return f"python <model>/export.py --ckpt_file CKPT --file_format {fmt} --file_name {stem}"


def read_sidecar(model_path, sidecar=None):
    """The sidecar dict of an exported file (or the explicit ``sidecar`` path); a model file without one is
    refused with one line giving the command that writes it."""
    side = sidecar or sidecar_path(model_path)
    if model_path is not None and not os.path.isfile(model_path):
        raise FaceIdError(f"{model_path}: exported model file not found")
    if not os.path.isfile(side):
        if model_path is None or os.path.abspath(side) != os.path.abspath(sidecar_path(model_path)):
            raise FaceIdError(f"{side}: sidecar file not found (give the .json that export.py wrote beside the "
                              f"exported file)")
        raise FaceIdError(f"{model_path}: no sidecar {os.path.basename(side)} saying how its input is prepared; "
                          f"export it again to write one: {export_command(model_path)}")
    try:
        with open(side, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError) as exc:
        raise FaceIdError(f"{side}: not a readable export sidecar ({str(exc).splitlines()[0]})") from None
    missing = [k for k in ("preprocess", "input", "outputs") if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise FaceIdError(f"{side}: not an export sidecar (lacks {', '.join(missing)})")
    return meta


def output_meanings(meta):
    """What each output of the exported file is, in order (``embedding``; PFE: ``mu``, ``sigma_sq``)."""
    return [o.get("meaning") or o.get("name") or f"output{k}" for k, o in enumerate(meta["outputs"])]


def preprocess_from_sidecar(meta, source="sidecar"):
    """The Preprocess the sidecar records (exactly the one the model was exported with)."""
    from common.data.transforms import Preprocess

    return Preprocess.from_config(dict(meta["preprocess"]), source=f"{source}: preprocess")
