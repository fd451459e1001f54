"""insightface ``recognition/arcface_torch`` PyTorch backbones (``backbone.pth``, ms1mv2/ms1mv3/glint360k/webface
models, fp32 or fp16) -> ``common.nets`` IResNet (``iresnet18/34/50/100``) or MobileFaceNet (``mbf``,
``mbf_large``).

The state_dict is read layer by layer in file order (conv1/bn1/prelu, layer1..4 of IBasicBlock
bn1-conv1-bn2-prelu-conv2-bn3 [+ downsample conv+bn], bn2, fc, features) and matched onto the zoo net in
:mod:`common.tools.import_weights.layers`; the zoo nets keep the same order, so names only label the table.
Half-precision tensors become float32. Input: RGB, (x - 127.5) / 127.5, 112x112.
"""
from common.core.errors import FaceIdError
from common.tools.import_weights import torch_zip
from common.tools.import_weights.layers import match, torch_layers, zoo_slots
from common.tools.import_weights.result import Imported, backbone

IRESNETS = ("iresnet18", "iresnet34", "iresnet50", "iresnet100", "iresnet200")
MBFS = ("mbf", "mbf_large")
PREPROCESS = "RGB, (x - 127.5) / 127.5, 112x112 aligned (insightface)"


def net_kwargs(arch, layers, origin):
    """backbone_args that fit the source's widths / embedding size (empty for the published sizes)."""
    dense = [l for l in layers if l.kind == "dense"]
    convs = [l for l in layers if l.kind == "conv"]
    if not dense or not convs:
        from common.tools.import_weights.layers import counts

        raise FaceIdError(f"{origin}: {counts(layers)} layers; every insightface {arch} has convs and ends in a "
                          f"fully-connected layer, so this is another layout (--from torch --arch NAME maps a "
                          f"PyTorch file onto any zoo net of its layout; other layouts: score the ONNX file)")
    kwargs = {}
    emb = int(dense[-1].weight.shape[0])
    if emb != 512:
        kwargs["embedding_size"] = emb
    if arch.startswith("iresnet"):
        widths = tuple(int(l.weight.shape[0]) for l in convs if l.weight.shape[2:] == (1, 1))
        if len(widths) != 4:
            raise FaceIdError(f"{origin}: expected 4 downsampling 1x1 convs of an IResNet, found {len(widths)}; "
                              f"is --arch right?")
        if widths != (64, 128, 256, 512):
            kwargs["widths"] = widths
    elif arch in MBFS:
        stem = int(convs[0].weight.shape[0])
        if stem % 64 or convs[0].weight.shape[2:] != (3, 3):
            raise FaceIdError(f"{origin}: first conv {tuple(convs[0].weight.shape)} is not a MobileFaceNet stem "
                              f"(3x3, 64 x scale channels); is --arch right?")
        scale = stem // 64
        if scale != (2 if arch == "mbf" else 4):
            kwargs["scale"] = scale
    return kwargs


def convert(path, arch, **_):
    if arch not in IRESNETS + MBFS:
        raise FaceIdError(f"--arch {arch}: arcface_torch backbones map to {', '.join(IRESNETS[:4] + MBFS)}")
    sd, notes = torch_zip.read_state_dict(path)
    layers, unused = torch_layers(sd)
    kwargs = net_kwargs(arch, layers, path)
    net, expected = backbone(arch, **kwargs)
    params, rows = match(layers, zoo_slots(net), path)
    if any(a.dtype.name == "float16" for a in sd.values()):
        notes.append("half-precision (fp16) tensors converted to float32")
    return Imported("arcface_torch", arch, path, params, rows, expected, unused=unused, notes=notes,
                    net_kwargs=kwargs, net=net, preprocess=PREPROCESS,
                    recipe={"preprocess": {"mean": 127.5, "std": 127.5, "color": "rgb"}, "align": "arcface112"},
                    parity_skip="PyTorch's network code is not part of the zoo; "
                                "tests/test_import_weights_arcface.py checks parity against an independent one")
