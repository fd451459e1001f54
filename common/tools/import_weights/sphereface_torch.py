"""SphereFace / CosFace PyTorch checkpoints of the 20-layer SphereNet (clcarwin/sphereface_pytorch ``sphere20a``,
``sphere20a_*.pth``) -> ``common.nets`` ``spherenet20a``.

That public layout differs from the zoo's PFE-style ``spherenet20`` (symmetric padding, conv biases, a Dense with
bias as embedding, no BatchNorm), hence the registered variant. Layers (conv1_1/relu1_1 ... conv4_3/relu4_3, fc5)
are matched in file order; the AngleLinear classifier ``fc6`` is dropped. The public model was trained and
evaluated on OpenCV (BGR) images, so by default the first conv's input channels are reversed and the imported
net takes RGB like the rest of the zoo (``--source_channels rgb`` keeps them). Input: (x - 127.5) / 128, 112x96.
"""
import numpy as np

from common.core.errors import FaceIdError
from common.tools.import_weights import torch_zip
from common.tools.import_weights.layers import match, torch_layers, zoo_slots
from common.tools.import_weights.result import Imported, backbone
from common.nets.spherenet import DEPTHS

CLASSIFIER = ("fc6.",)


def convert(path, arch, source_channels="bgr", **_):
    if arch != "spherenet20a":
        raise FaceIdError(f"--arch {arch}: sphereface_torch (sphere20a) weights map to spherenet20a (the public "
                          f"layout: symmetric padding, conv biases, no BatchNorm)")
    sd, notes = torch_zip.read_state_dict(path)
    dropped = [(k, f"AngleLinear classifier {tuple(v.shape)}") for k, v in sd.items() if k.startswith(CLASSIFIER)]
    layers, unused = torch_layers(sd, skip=lambda k: k.startswith(CLASSIFIER))
    convs = [l for l in layers if l.kind == "conv"]
    dense = [l for l in layers if l.kind == "dense"]
    if len(convs) != 4 + 2 * sum(DEPTHS[20]) or len(dense) != 1:
        raise FaceIdError(f"{path}: {len(convs)} convs and {len(dense)} fully-connected layers; sphere20a has "
                          f"{4 + 2 * sum(DEPTHS[20])} and 1")
    widths, pos = [], 0
    for n in DEPTHS[20]:
        widths.append(int(convs[pos].weight.shape[0]))
        pos += 1 + 2 * n
    kwargs = {}
    if tuple(widths) != (64, 128, 256, 512):
        kwargs["widths"] = tuple(widths)
    if dense[0].weight.shape[0] != 512:
        kwargs["embedding_size"] = int(dense[0].weight.shape[0])
    net, expected = backbone(arch, **kwargs)
    slots = zoo_slots(net)
    params, rows = match(layers, slots, path)
    if source_channels == "bgr":
        first = slots[0].prefix + ".weight"
        params[first] = np.ascontiguousarray(params[first][:, ::-1])
        rows[0] = rows[0][:3] + ("input channels BGR -> RGB",)
        notes.append("first conv's input channels reversed: the imported net takes RGB (the source took BGR)")
    return Imported("sphereface_torch", arch, path, params, rows, expected, unused=unused, dropped=dropped,
                    notes=notes, net_kwargs=kwargs, net=net,
                    preprocess="RGB, (x - 127.5) / 128, 112x96 aligned (sphereface)",
                    parity_skip="PyTorch's network code is not part of the zoo; "
                                "tests/test_import_weights_sphereface.py checks parity against an independent one")
