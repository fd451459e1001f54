"""Face-recognition backbones, selected by name from the zoo's one registry ``BACKBONES``.

Every backbone is an ``nn.Cell`` whose ``construct(x)`` maps float32 NCHW images to the
un-normalised embedding ``(N, embedding_size)`` and that carries ``embedding_size`` and
``input_size`` (C, H, W). Each is registered with the input size it takes
(``@BACKBONES.register(input_size=(3, 112, 112))``); nets that adapt to other sizes say ``any_size=True`` and
take ``input_size`` as an argument. The nets shared by several models live here; a model's own nets (LightCNN,
FaceNet's) register into the same registry from their folder.

One input-size rule (:func:`build_backbone`): the preprocessing output (C, H, W) must equal the backbone's
input — its registered size, or ``backbone_args.input_size`` for nets that take any size — or the build is
refused with one line before anything is constructed.
"""
from common.core.errors import FaceIdError
from common.core.registry import Registry

BACKBONES = Registry("backbone")

from common.nets import iresnet, mbf, mobilefacenet, spherenet  # noqa: E402,F401  (fill BACKBONES)


def create_backbone(name, **kwargs):
    """Build the backbone registered as ``name`` (e.g. ``iresnet50``) with keyword overrides."""
    return BACKBONES.create(name, **kwargs)


def build_backbone(cfg):
    """The config's backbone (``backbone``, ``backbone_args``), checked against ``preprocess`` first."""
    from common.data.transforms import Preprocess

    where = cfg.get("config", "config")
    name = cfg.get("backbone")
    if not name or name not in BACKBONES:
        raise FaceIdError(f"{where}: backbone '{name}' is not in the registry (known: {', '.join(BACKBONES.names())})")
    args = dict(cfg.get("backbone_args") or {})
    meta = BACKBONES.meta(name)
    try:
        size = tuple(int(v) for v in Preprocess.from_config(cfg.get("preprocess"), source=f"{where}: preprocess")
                     .output_size)
    except FaceIdError:
        raise
    except ValueError as exc:
        raise FaceIdError(f"{where}: preprocess: {exc}") from None
    if "input_size" in args:
        args["input_size"] = tuple(int(v) for v in args["input_size"])
        if not meta.get("any_size"):
            raise FaceIdError(f"{where}: backbone {name} takes input {meta['input_size']} only; "
                              f"remove backbone_args.input_size")
    expected = args.get("input_size", meta.get("input_size"))
    if expected is not None and tuple(expected) != size:
        hint = (f"set backbone_args.input_size to {list(size)} or fix preprocess" if meta.get("any_size")
                else "fix preprocess (crop / resize) or pick a backbone of that size")
        raise FaceIdError(f"{where}: backbone {name} takes input {tuple(expected)} but preprocess gives {size}; {hint}")
    try:
        return BACKBONES.create(name, **args)
    except (TypeError, ValueError) as exc:
        raise FaceIdError(f"{where}: backbone '{name}' with backbone_args {args}: {exc}") from None
