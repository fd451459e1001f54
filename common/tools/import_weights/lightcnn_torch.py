"""LightCNN official PyTorch checkpoints (AlfredXiangWu/LightCNN ``LightCNN_9Layers_checkpoint.pth.tar``,
``LightCNN_29Layers_checkpoint.pth.tar``, ``LightCNN_29Layers_V2_checkpoint.pth.tar``: ``{'state_dict': ...}``
saved from DataParallel, ``module.`` prefixes, the legacy torch format) -> the zoo's ``lightcnn9``,
``lightcnn29``, ``lightcnn29v2`` (lightcnn/src/lightcnn.py).

common/ does not import the model folders, so this mapping works on names: it lays out the public network's
parameter names and shapes and the zoo's (``features.<i>`` positions count the pooling layers) and pairs them.
The classifier ``fc2`` is dropped unless ``--keep_classifier``: then it is written as ``fc2.*`` beside
``backbone.*``, the names of lightcnn's training network. Input: gray, x / 255, 128x128.
"""
import collections

import numpy as np

from common.core.errors import FaceIdError
from common.tools.import_weights import torch_zip
from common.tools.import_weights.result import Imported

# (cin, cout, pool after) of the four group stages; MFM convs hold 2 x out channels
STAGES = ((48, 96, True), (96, 192, True), (192, 128, False), (128, 128, True))
BLOCKS = (1, 2, 3, 4)
ARCHS = ("lightcnn9", "lightcnn29", "lightcnn29v2")


def layout(arch, flat=8 * 8 * 128):
    """[(public name, zoo name, shape)] of every backbone parameter, in order."""
    rows = []

    def conv(src, dst, cin, cout, k):
        rows.extend([(f"{src}.weight", f"{dst}.weight", (2 * cout, cin, k, k)), (f"{src}.bias", f"{dst}.bias",
                                                                               (2 * cout,))])

    if arch == "lightcnn9":
        conv("features.0.filter", "features.0.filter", 1, 48, 5)
        for idx, (cin, cout, _) in zip((2, 4, 6, 7), STAGES):
            conv(f"features.{idx}.conv_a.filter", f"features.{idx}.conv_a.filter", cin, cin, 1)
            conv(f"features.{idx}.conv.filter", f"features.{idx}.conv.filter", cin, cout, 3)
        rows += [("fc1.filter.weight", "fc.filter.weight", (512, flat)), ("fc1.filter.bias", "fc.filter.bias", (512,))]
        return rows
    conv("conv1.filter", "features.0.filter", 1, 48, 5)
    pos = 2
    for stage, ((cin, cout, pool), n) in enumerate(zip(STAGES, BLOCKS), start=1):
        for b in range(n):
            for c in ("conv1", "conv2"):
                conv(f"block{stage}.{b}.{c}.filter", f"features.{pos}.{c}.filter", cin, cin, 3)
            pos += 1
        conv(f"group{stage}.conv_a.filter", f"features.{pos}.conv_a.filter", cin, cin, 1)
        conv(f"group{stage}.conv.filter", f"features.{pos}.conv.filter", cin, cout, 3)
        pos += 2 if pool else 1
    if arch == "lightcnn29v2":
        rows += [("fc.weight", "fc.weight", (256, flat)), ("fc.bias", "fc.bias", (256,))]
    else:
        rows += [("fc.filter.weight", "fc.filter.weight", (512, flat)), ("fc.filter.bias", "fc.filter.bias", (512,))]
    return rows


def guess(sd):
    if "features.0.filter.weight" in sd:
        return "lightcnn9"
    return "lightcnn29v2" if "fc.weight" in sd else "lightcnn29"


def convert(path, arch, keep_classifier=False, **_):
    if arch not in ARCHS:
        raise FaceIdError(f"--arch {arch}: lightcnn_torch weights map to {', '.join(ARCHS)}")
    sd, notes = torch_zip.read_state_dict(path)
    sd = collections.OrderedDict((k, v) for k, v in sd.items() if not k.endswith("num_batches_tracked"))
    rows_layout = layout(arch)
    if rows_layout[0][0] not in sd or rows_layout[-1][0] not in sd:
        raise FaceIdError(f"{path}: does not hold {arch} weights ({rows_layout[0][0]} or {rows_layout[-1][0]} "
                          f"missing); it looks like {guess(sd)}: try --arch {guess(sd)}")
    prefix = "backbone." if keep_classifier else ""
    params, rows, expected = collections.OrderedDict(), [], collections.OrderedDict()
    for src, dst, shape in rows_layout:
        expected[prefix + dst] = shape
        if src in sd:
            params[prefix + dst] = np.asarray(sd[src], dtype=np.float32)
            rows.append((src, prefix + dst, tuple(sd[src].shape), ""))
    classifier = [k for k in sd if k.startswith("fc2.")]
    dropped = []
    if keep_classifier:
        for k in classifier:
            expected[k] = tuple(sd[k].shape)
            params[k] = np.asarray(sd[k], dtype=np.float32)
            rows.append((k, k, tuple(sd[k].shape), "classifier"))
    else:
        dropped = [(k, f"classifier {tuple(sd[k].shape)} (--keep_classifier keeps it)") for k in classifier]
    used = {src for src, _, _ in rows_layout} | set(classifier)
    unused = [(k, tuple(np.shape(v))) for k, v in sd.items() if k not in used]
    if classifier:
        notes.append(f"classifier fc2: {sd[classifier[0]].shape[0]} classes")
    return Imported("lightcnn_torch", arch, path, params, rows, expected, unused=unused, dropped=dropped,
                    notes=notes, preprocess="gray, x / 255, 128x128 (LightCNN alignment)", input_size=(1, 128, 128),
                    recipe={"preprocess": {"channels": 1, "resize": 144, "crop": 128, "mean": 0.0, "std": 255.0},
                            "align": "lightcnn144"},
                    parity_skip="common/ cannot build the lightcnn/ networks; "
                                "tests/test_import_weights_lightcnn.py checks parity against an independent one")
