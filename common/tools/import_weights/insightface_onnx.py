"""insightface ONNX model files (``w600k_r50.onnx``, ``glint360k_r100.onnx``, ``w600k_mbf.onnx`` ...) ->
``common.nets`` IResNet / MobileFaceNet (``mbf``), so a user holding only the ONNX file gets a trainable
checkpoint.

The initializers are read with ``onnx`` and matched layer by layer in graph order (see
:mod:`common.tools.import_weights.layers`); BatchNorms that the exporter folded into the preceding conv become
identity BatchNorms carrying the conv bias. Parity: onnxruntime on the same random batch.
"""
import numpy as np

from common.core.errors import FaceIdError
from common.tools.import_weights import onnx_weights
from common.tools.import_weights.arcface_torch import IRESNETS, MBFS, PREPROCESS, net_kwargs
from common.tools.import_weights.layers import match, zoo_slots
from common.tools.import_weights.result import Imported, backbone


def convert(path, arch, **_):
    if arch not in IRESNETS + MBFS:
        raise FaceIdError(f"--arch {arch}: insightface ONNX models map to {', '.join(IRESNETS[:4] + MBFS)}")
    layers, unused = onnx_weights.read_layers(path)
    kwargs = net_kwargs(arch, layers, path)
    net, expected = backbone(arch, **kwargs)
    params, rows = match(layers, zoo_slots(net), path)

    def parity(ms_net):
        x = np.random.default_rng(0).uniform(-1, 1, (2,) + tuple(ms_net.input_size)).astype(np.float32)
        ref = onnx_weights.run(path, x)
        if ref is None:
            return None
        import mindspore as ms

        ms_net.set_train(False)
        got = ms_net(ms.Tensor(x)).asnumpy()
        return float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-12)), "onnxruntime vs MindSpore"

    return Imported("insightface_onnx", arch, path, params, rows, expected, unused=unused, net_kwargs=kwargs,
                    net=net, parity=parity, parity_skip="onnxruntime is not installed", preprocess=PREPROCESS)
