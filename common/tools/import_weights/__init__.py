"""Bring your weights: published face-recognition weights -> MindSpore checkpoints of the zoo's networks.

    python -m common.import_weights --from FORMAT --arch NAME --in FILE --out model.ckpt [--allow_missing NAMES]

One module per concern: readers that never execute code from the file (``torch_zip`` for PyTorch's zip and
legacy formats, ``tf_checkpoint`` for TF V2 checkpoints, ``onnx_weights`` for ONNX initializers), the layer
matcher (``layers``), one mapping module per source format, and the report / save step (``result``).
"""
import importlib

FORMATS = {
    "arcface_torch": "common.tools.import_weights.arcface_torch",
    "insightface_onnx": "common.tools.import_weights.insightface_onnx",
    "lightcnn_torch": "common.tools.import_weights.lightcnn_torch",
    "sphereface_torch": "common.tools.import_weights.sphereface_torch",
    "tf_pfe": "common.tools.import_weights.tf_pfe",
}


def convert(fmt, path, arch, **options):
    """The :class:`~common.tools.import_weights.result.Imported` of ``path`` read as ``fmt`` for zoo network ``arch``."""
    from common.core.errors import FaceIdError

    if fmt not in FORMATS:
        raise FaceIdError(f"--from {fmt}: unknown format (known: {', '.join(FORMATS)})")
    return importlib.import_module(FORMATS[fmt]).convert(path, arch, **options)
