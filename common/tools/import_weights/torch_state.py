"""Any PyTorch checkpoint -> any zoo network ``--arch`` whose layers come in the same order with the same shapes.

The file may be the zip format or the legacy (pre-1.6) pickle, the state dict at the top level or under any key
(``state_dict``, ``net_state_dict``, ``model``, ``backbone``, nested; a ``module.`` prefix is removed): see
:mod:`common.tools.import_weights.torch_zip`, which never runs code from the file. Its tensors become the
sequence conv / bn / prelu / dense (module order) and are matched onto the zoo network's layers
(:mod:`common.tools.import_weights.layers`). The zoo network is built for the source: its ``embedding_size``
from the source's last layer, and ``--input_size HxW`` for nets whose last kernel depends on the input
(MobileFaceNet's GDC: 112x96 -> 7x6). A disagreement is refused with the layers around it.

Example: Xiaoccer/MobileFaceNet_Pytorch ``model/best/068.ckpt`` (``{'epoch': 68, 'net_state_dict': ...}``,
legacy format) -> ``--arch mobilefacenet --input_size 112x96``.
"""
import inspect
import re

from common.core.errors import FaceIdError
from common.tools.import_weights import torch_zip
from common.tools.import_weights.layers import counts, match, torch_layers, zoo_slots
from common.tools.import_weights.result import Imported, backbone, _allowed

PARITY_SKIP = ("a state_dict carries no network code, so no reference forward runs here; shapes and layer order "
               "are checked one by one, and tests/tools/test_import_weights_torch.py checks embeddings against an "
               "independently written PyTorch network")


def parse_size(text, channels=3):
    """``112x96`` / ``112,96`` / ``3x112x96`` -> (C, H, W)."""
    parts = [p for p in str(text).replace(",", "x").lower().split("x") if p.strip()]
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        vals = []
    if len(vals) == 2:
        vals = [channels] + vals
    if len(vals) != 3 or min(vals) < 1:
        raise FaceIdError(f"--input_size {text}: expected HxW (e.g. 112x96) or CxHxW")
    return tuple(vals)


def _defaults(arch):
    from common.nets import BACKBONES

    try:
        sig = inspect.signature(BACKBONES.get(arch))
    except (TypeError, ValueError):
        return {}
    return {k: p.default for k, p in sig.parameters.items() if p.default is not inspect.Parameter.empty}


def _out_channels(layer):
    return int(layer.bn[0].shape[0]) if layer.kind == "bn" else int(layer.weight.shape[0])


def net_kwargs(arch, layers, input_size, origin):
    """backbone_args for the source: ``embedding_size`` (its last layer's width) and ``input_size``."""
    from common.nets import BACKBONES

    if arch not in BACKBONES:
        raise FaceIdError(f"--arch {arch}: not a backbone of the zoo (known: {', '.join(BACKBONES.names())})")
    meta, defaults = BACKBONES.meta(arch), _defaults(arch)
    kwargs = {}
    if "embedding_size" in defaults and layers:
        emb = _out_channels(layers[-1])
        if emb != defaults["embedding_size"]:
            kwargs["embedding_size"] = emb
    if input_size is not None:
        size = parse_size(input_size, int((meta.get("input_size") or (3,))[0]))
        if not meta.get("any_size") or "input_size" not in defaults:
            raise FaceIdError(f"--input_size {input_size}: {arch} takes input {meta.get('input_size')} only")
        if tuple(size) != tuple(meta.get("input_size") or ()):
            kwargs["input_size"] = size
    return kwargs


def _hint(exc, arch, kwargs):
    """For a conv whose kernel alone differs on a net built for any input size: the input size that fits."""
    from common.nets import BACKBONES

    meta = BACKBONES.meta(arch)
    table = getattr(exc, "table", None)
    if not meta.get("any_size") or not table:
        return ""
    m = re.search(r"weight \((\d+), (\d+), (\d+), (\d+)\) but zoo layer \S+ needs \((\d+), (\d+), (\d+), (\d+)\)",
                  str(exc))
    if not m:
        return ""
    src, zoo = [int(v) for v in m.groups()[:4]], [int(v) for v in m.groups()[4:]]
    if src[:2] != zoo[:2]:
        return ""
    c, h, w = kwargs.get("input_size") or meta["input_size"]
    if (h * src[2]) % zoo[2] or (w * src[3]) % zoo[3]:
        return "; the kernel depends on the input size: give --input_size HxW"
    return (f"; the kernel depends on the input size: the source's {src[2]}x{src[3]} kernel fits "
            f"--input_size {h * src[2] // zoo[2]}x{w * src[3] // zoo[3]}")


def convert(path, arch, input_size=None, allow=(), **_):
    sd, notes = torch_zip.read_state_dict(path)
    dropped = [(k, "dropped by --allow_missing") for k in sd if _allowed(k, allow)]
    layers, unused = torch_layers(sd, skip=lambda k: _allowed(k, allow))
    if not layers:
        names = ", ".join(list(sd)[:4])
        raise FaceIdError(f"{path}: {len(sd)} tensors ({names} ...) but none is a conv, BatchNorm, PReLU or "
                          f"fully-connected layer (weight/bias, or weight/bias/running_mean/running_var)")
    kwargs = net_kwargs(arch, layers, input_size, path)
    net, expected = backbone(arch, **kwargs)
    slots = zoo_slots(net)
    try:
        params, rows = match(layers, slots, path)
    except FaceIdError as exc:
        size = f" at input {kwargs['input_size']}" if "input_size" in kwargs else ""
        hint = _hint(exc, arch, kwargs)
        text = str(exc).replace("; is --arch right?", "") if hint else str(exc)
        msg = (f"{text}{hint} (source: {counts(layers)}; zoo {arch}{size}: {counts(slots)}; "
               f"first disagreement at layer {getattr(exc, 'position', 0) + 1})")
        err = FaceIdError(msg)
        err.table = getattr(exc, "table", None)
        raise err from None
    net_args = dict(kwargs)
    if "input_size" in net_args:
        net_args["input_size"] = list(net_args["input_size"])
    return Imported("torch", arch, path, params, rows, expected, unused=unused, dropped=dropped, notes=notes,
                    net_kwargs=net_args, net=net, preprocess="", parity_skip=PARITY_SKIP,
                    input_size=tuple(getattr(net, "input_size", None) or kwargs.get("input_size") or ()))
