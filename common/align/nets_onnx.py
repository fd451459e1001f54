"""P-Net, R-Net and O-Net as ONNX graphs built from the committed weights, run with onnxruntime.

The graphs are built in memory with ``onnx.helper`` once per process (nothing is written to disk): valid
convolutions, per-channel PReLU, 'ceil' max pooling, dense layers (Gemm) and a softmax over the two face /
not-face logits. Batch and (P-Net) image size are dynamic.
"""
import numpy as np

from common.align.weights import DENSE_INPUT, HEADS, LAYERS, dense_nchw, load_weights

OPSET = 17


def build_model(net, weights):
    """onnx.ModelProto of ``net`` ('pnet' | 'rnet' | 'onet'); outputs ``prob`` (softmax), ``reg`` (+ ``points``)."""
    from onnx import TensorProto, helper, numpy_helper

    inits, nodes = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, np.float32), name))
        return name

    size = {"pnet": None, "rnet": 24, "onet": 48}[net]
    dims = ["N", 3, "H", "W"] if size is None else ["N", 3, size, size]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
    cur, flat = "x", False
    for i, layer in enumerate(LAYERS[net]):
        kind, out = layer[0], f"{net}_{i}"
        if kind == "conv":
            name = layer[1]
            nodes.append(helper.make_node("Conv", [cur, const(f"{name}.w", weights[f"{net}.{name}.weight"]),
                                                   const(f"{name}.b", weights[f"{net}.{name}.bias"])], [out]))
        elif kind == "prelu":
            slope = weights[f"{net}.{layer[1]}.weight"]
            slope = slope if flat else slope.reshape(-1, 1, 1)
            nodes.append(helper.make_node("PRelu", [cur, const(f"{layer[1]}.slope", slope)], [out]))
        elif kind == "pool":
            nodes.append(helper.make_node("MaxPool", [cur], [out], kernel_shape=[layer[1]] * 2,
                                          strides=[layer[2]] * 2, ceil_mode=1))
        elif kind == "dense":
            name = layer[1]
            nodes.append(helper.make_node("Flatten", [cur], [out + "_flat"], axis=1))
            w = dense_nchw(weights[f"{net}.{name}.weight"], DENSE_INPUT[net])
            nodes.append(helper.make_node("Gemm", [out + "_flat", const(f"{name}.w", w),
                                                   const(f"{name}.b", weights[f"{net}.{name}.bias"])],
                                          [out], transB=1))
            flat = True
        cur = out
    outputs = []
    for head, out in zip(HEADS[net], ("logits", "reg", "points")):
        kind, name = head[0], head[1]
        w, b = weights[f"{net}.{name}.weight"], weights[f"{net}.{name}.bias"]
        op = "Conv" if kind == "conv" else "Gemm"
        kw = {} if kind == "conv" else {"transB": 1}
        nodes.append(helper.make_node(op, [cur, const(f"{name}.w", w), const(f"{name}.b", b)], [out], **kw))
        outputs.append(out)
    nodes.append(helper.make_node("Softmax", ["logits"], ["prob"], axis=1))
    outs = ["prob"] + outputs[1:]
    graph = helper.make_graph(nodes, f"mtcnn_{net}", [x],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="faceid-zoo common.align")
    model.ir_version = min(model.ir_version, 9)
    return model


class OnnxNets:
    """The three nets on onnxruntime (CPU). ``threads``: intra-op threads per session (1 per worker process)."""

    name = "onnxruntime"

    def __init__(self, weights=None, threads=1):
        import onnxruntime as ort

        weights = weights if weights is not None else load_weights()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        from common.core.env import ort_session

        self._sess = {n: ort_session(build_model(n, weights).SerializeToString(), opts) for n in LAYERS}

    def _run(self, net, x):
        return self._sess[net].run(None, {"x": np.ascontiguousarray(x, np.float32)})

    def pnet(self, x):
        """(N, 3, H, W) normalised -> face probability (N, h, w), box regression (N, 4, h, w)."""
        prob, reg = self._run("pnet", x)
        return prob[:, 1], reg

    def rnet(self, x):
        """(N, 3, 24, 24) -> probability (N,), regression (N, 4)."""
        prob, reg = self._run("rnet", x)
        return prob[:, 1], reg

    def onet(self, x):
        """(N, 3, 48, 48) -> probability (N,), regression (N, 4), landmarks (N, 10): x1..x5, y1..y5 in [0, 1]."""
        prob, reg, points = self._run("onet", x)
        return prob[:, 1], reg, points
