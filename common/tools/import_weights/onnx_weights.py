"""ONNX model files -> the parametric layer sequence of :mod:`common.tools.import_weights.layers`, and an
onnxruntime forward for the parity check.

Weights are the graph's initializers (and ``Constant`` nodes), read with the ``onnx`` package. Nodes are
visited in the file's (topological) order: ``Conv``, ``BatchNormalization``, ``PRelu``, ``Gemm`` and
``MatMul`` (+ a following ``Add`` of a constant: its bias) become layers; a BatchNormalization records whether
it reads the previous layer's output directly (else its conv had the BN folded in at export).
Float constants used by any other node (e.g. an in-graph ``Sub``/``Mul`` normalisation) are reported as unused.
"""
import os

import numpy as np

from common.core.errors import FaceIdError
from common.tools.import_weights.layers import Layer


def _load(path):
    if not os.path.isfile(path):
        raise FaceIdError(f"{path}: file not found")
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise FaceIdError(f"{path}: the onnx package is needed to read ONNX files (pip install onnx)") from None
    try:
        model = onnx.load(path)
    except Exception as exc:  # onnx raises DecodeError and others for non-ONNX input
        raise FaceIdError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    consts[node.output[0]] = numpy_helper.to_array(attr.t)
    return model, consts


def _attrs(node):
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def read_layers(path):
    """(layers, unused [(initializer name, shape)]) of an ONNX file."""
    model, consts = _load(path)
    used, layers = set(), []
    nodes = [n for n in model.graph.node if n.op_type != "Constant"]
    last_out = None

    def const(name, node):
        if name not in consts:
            raise FaceIdError(f"{path}: node {node.name or node.op_type} reads {name}, which is not a constant "
                              f"(weights computed at run time are not supported)")
        used.add(name)
        return np.asarray(consts[name], dtype=np.float32)

    for node in nodes:
        name = node.name or node.output[0]
        op, ins = node.op_type, list(node.input)
        a = _attrs(node)
        if op == "Conv":
            w = const(ins[1], node)
            b = const(ins[2], node) if len(ins) > 2 and ins[2] else None
            layers.append(Layer("conv", name, w, b, sources=tuple(x for x in ins[1:] if x)))
        elif op == "BatchNormalization":
            bn = tuple(const(x, node) for x in ins[1:5])
            layers.append(Layer("bn", name, bn=bn, eps=float(a.get("epsilon", 1e-5)),
                                attached=bool(layers) and ins[0] == last_out, sources=tuple(ins[1:5])))
        elif op == "PRelu":
            layers.append(Layer("prelu", name, const(ins[1], node), sources=(ins[1],)))
        elif op == "Gemm" and ins[1] in consts:
            w = const(ins[1], node) * float(a.get("alpha", 1.0))
            w = w if a.get("transB", 0) else w.T
            if a.get("transA", 0):
                raise FaceIdError(f"{path}: Gemm {name} with transA is not supported")
            b = const(ins[2], node) * float(a.get("beta", 1.0)) if len(ins) > 2 and ins[2] else None
            layers.append(Layer("dense", name, np.ascontiguousarray(w), b, sources=tuple(x for x in ins[1:] if x)))
        elif op == "MatMul" and ins[1] in consts and consts[ins[1]].ndim == 2:
            layers.append(Layer("dense", name, np.ascontiguousarray(const(ins[1], node).T), None, sources=(ins[1],)))
        elif (op == "Add" and layers and layers[-1].kind == "dense" and layers[-1].bias is None
              and last_out in ins and any(x in consts for x in ins if x != last_out)):
            other = [x for x in ins if x != last_out][0]
            layers[-1].bias = const(other, node).reshape(-1)
            layers[-1].sources += (other,)
        else:  # a node without weights breaks the conv -> BN chain (Identity passes it on)
            last_out = node.output[0] if op == "Identity" and ins and ins[0] == last_out else None
            continue
        last_out = node.output[0]
    unused = [(k, tuple(v.shape)) for k, v in consts.items()
              if k not in used and np.asarray(v).dtype.kind == "f" and np.asarray(v).size > 0]
    return layers, unused


def run(path, x):
    """The first output of the ONNX model on ``x`` (onnxruntime, CPU); None when onnxruntime is absent."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    from common.core.env import ort_session

    sess = ort_session(path, providers="cpu")  # the reference outputs of the imported weights: float32 CPU
    inp = sess.get_inputs()[0]
    batch = inp.shape[0] if inp.shape and isinstance(inp.shape[0], int) and inp.shape[0] > 0 else len(x)
    parts = [sess.run(None, {inp.name: x[i:i + batch].astype(np.float32)})[0] for i in range(0, len(x), batch)]
    return np.concatenate(parts)
