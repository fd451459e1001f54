"""Face-recognition backbones shared by the models, selected by name from ``BACKBONES``.

Every backbone is an ``nn.Cell`` whose ``construct(x)`` maps float32 NCHW images to the
un-normalised embedding ``(N, embedding_size)`` and that carries ``embedding_size`` and
``input_size`` (C, H, W).
"""
from common.registry import Registry

BACKBONES = Registry("backbone")

from common.nets import iresnet, mobilefacenet, spherenet  # noqa: E402,F401  (fill BACKBONES)


def create_backbone(name, **kwargs):
    """Build the backbone registered as ``name`` (e.g. ``iresnet50``) with keyword overrides."""
    return BACKBONES.create(name, **kwargs)
