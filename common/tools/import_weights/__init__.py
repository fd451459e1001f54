"""Bring your weights: published face-recognition weights -> MindSpore checkpoints of the zoo's networks.

    python -m common.import_weights --from FORMAT --arch NAME --in FILE --out model.ckpt [--allow_missing NAMES]
    python -m common.import_weights --from torch --arch mobilefacenet --input_size 112x96 --in 068.ckpt --out_dir D

``--out_dir D`` writes a model bundle (``D/model.ckpt``, ``D/config.yaml``, ``D/MODEL_CARD.md``; see ``bundle``)
that every entry takes as ``--config D/config.yaml --ckpt_file D/model.ckpt``.

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
    "torch": "common.tools.import_weights.torch_state",
}


def convert(fmt, path, arch, **options):
    """The :class:`~common.tools.import_weights.result.Imported` of ``path`` read as ``fmt`` for zoo network ``arch``."""
    from common.core.errors import FaceIdError

    if fmt not in FORMATS:
        raise FaceIdError(f"--from {fmt}: unknown format (known: {', '.join(FORMATS)})")
    return importlib.import_module(FORMATS[fmt]).convert(path, arch, **options)
