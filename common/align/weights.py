"""The committed MTCNN weights (``weights/mtcnn.npz``, MIT, see weights/LICENSE and PROVENANCE), strictly checked.

Names are ``<net>.<layer>.<param>``; layouts are PyTorch's (conv OIHW, dense (out, in)). The dense layers of
R-Net and O-Net take their input flattened in Caffe order (W, H, C), which :func:`dense_nchw` turns into the
usual (C, H, W) flatten order.
"""
import os

import numpy as np

from common.core.errors import FaceIdError

WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", "mtcnn.npz")


def _conv(name, cin, cout, k):
    return {f"{name}.weight": (cout, cin, k, k), f"{name}.bias": (cout,)}


def _dense(name, cin, cout):
    return {f"{name}.weight": (cout, cin), f"{name}.bias": (cout,)}


def _prelu(name, c):
    return {f"{name}.weight": (c,)}


# The layer tables: (kind, name, in, out, kernel). Shapes below are derived from them.
LAYERS = {
    "pnet": [("conv", "conv1", 3, 10, 3), ("prelu", "prelu1", 10), ("pool", 2, 2),
             ("conv", "conv2", 10, 16, 3), ("prelu", "prelu2", 16),
             ("conv", "conv3", 16, 32, 3), ("prelu", "prelu3", 32)],
    "rnet": [("conv", "conv1", 3, 28, 3), ("prelu", "prelu1", 28), ("pool", 3, 2),
             ("conv", "conv2", 28, 48, 3), ("prelu", "prelu2", 48), ("pool", 3, 2),
             ("conv", "conv3", 48, 64, 2), ("prelu", "prelu3", 64),
             ("dense", "dense4", 576, 128), ("prelu", "prelu4", 128)],
    "onet": [("conv", "conv1", 3, 32, 3), ("prelu", "prelu1", 32), ("pool", 3, 2),
             ("conv", "conv2", 32, 64, 3), ("prelu", "prelu2", 64), ("pool", 3, 2),
             ("conv", "conv3", 64, 64, 3), ("prelu", "prelu3", 64), ("pool", 2, 2),
             ("conv", "conv4", 64, 128, 2), ("prelu", "prelu4", 128),
             ("dense", "dense5", 1152, 256), ("prelu", "prelu5", 256)],
}
# Output heads: P-Net 1x1 convs on 32 channels; R-Net / O-Net dense layers.
HEADS = {
    "pnet": [("conv", "conv4_1", 32, 2, 1), ("conv", "conv4_2", 32, 4, 1)],            # prob, box reg
    "rnet": [("dense", "dense5_1", 128, 2), ("dense", "dense5_2", 128, 4)],
    "onet": [("dense", "dense6_1", 256, 2), ("dense", "dense6_2", 256, 4), ("dense", "dense6_3", 256, 10)],
}
# Spatial size of the feature map that the first dense layer flattens (C, H, W).
DENSE_INPUT = {"rnet": (64, 3, 3), "onet": (128, 3, 3)}


def expected_shapes():
    out = {}
    for net in LAYERS:
        for layer in LAYERS[net] + HEADS[net]:
            kind = layer[0]
            if kind == "conv":
                shapes = _conv(*layer[1:])
            elif kind == "dense":
                shapes = _dense(*layer[1:])
            elif kind == "prelu":
                shapes = _prelu(*layer[1:])
            else:
                continue
            out.update({f"{net}.{k}": v for k, v in shapes.items()})
    return out


def load_weights(path=WEIGHTS):
    """{name: float32 array}; FaceIdError naming the file on a missing, extra or wrongly shaped array."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise FaceIdError(f"{path}: cannot read the MTCNN weights ({exc})") from None
    want = expected_shapes()
    missing = sorted(set(want) - set(arrays))
    extra = sorted(set(arrays) - set(want))
    if missing or extra:
        raise FaceIdError(f"{path}: MTCNN weights do not match the nets (missing {missing[:3]}, "
                          f"unexpected {extra[:3]})")
    for k, shape in want.items():
        if tuple(arrays[k].shape) != shape or arrays[k].dtype != np.float32:
            raise FaceIdError(f"{path}: {k} has {arrays[k].dtype} {tuple(arrays[k].shape)}, "
                              f"expected float32 {shape}")
    return arrays


def dense_nchw(weight, chw):
    """Reorder a dense weight whose inputs are flattened (W, H, C) to the (C, H, W) flatten order."""
    c, h, w = chw
    out_features = weight.shape[0]
    return np.ascontiguousarray(weight.reshape(out_features, w, h, c).transpose(0, 3, 2, 1)
                                .reshape(out_features, c * h * w))
