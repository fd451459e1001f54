"""Fold constant shape ops (Unsqueeze / Squeeze / Reshape of initializers) into initializers of an ONNX file.

MindSpore exports ``nn.PReLU`` as ``PRelu(x, Unsqueeze(slope))``; MindSpore Lite 2.0's ONNX parser only accepts
a PRelu slope that is an initializer ("parse node PRelu failed"). Folding such nodes gives the same graph
(same outputs under onnxruntime) in the form the converter reads. Used by scripts/run_infer_310.sh before
faceid_convert::

    python -m common.deploy.onnx_fold IN.onnx OUT.onnx
"""
import argparse
import os

import numpy as np

from common.core.errors import FaceIdError


def _axes(node, consts, inputs):
    """Axes of (Un)Squeeze: attribute (opset < 13) or second input (opset >= 13); None if absent."""
    from onnx import helper

    for a in node.attribute:
        if a.name == "axes":
            return [int(v) for v in helper.get_attribute_value(a)]
    return [int(v) for v in consts[inputs[1]]] if len(inputs) > 1 else None


def _unsqueeze(node, consts):
    x = consts[node.input[0]]
    out_rank = x.ndim + len(_axes(node, consts, node.input))
    for ax in sorted(a % out_rank for a in _axes(node, consts, node.input)):
        x = np.expand_dims(x, ax)
    return x


def _squeeze(node, consts):
    x = consts[node.input[0]]
    axes = _axes(node, consts, node.input)
    return np.squeeze(x) if axes is None else np.squeeze(x, tuple(a % x.ndim for a in axes))


def _reshape(node, consts):
    x, shape = consts[node.input[0]], [int(v) for v in consts[node.input[1]]]
    shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]  # ONNX: 0 copies the input dimension
    return x.reshape(shape)


FOLDERS = {"Unsqueeze": _unsqueeze, "Squeeze": _squeeze, "Reshape": _reshape}


def fold(model):
    """Fold, in place, every FOLDERS node whose inputs are all initializers; returns how many were folded."""
    from onnx import numpy_helper

    graph = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    graph_outputs = {o.name for o in graph.output}
    keep, folded = [], 0
    for node in graph.node:
        fn = FOLDERS.get(node.op_type)
        if fn is None or not node.input or not all(i in consts for i in node.input if i) \
                or len(node.output) != 1 or node.output[0] in graph_outputs:
            keep.append(node)
            continue
        value = fn(node, consts)
        consts[node.output[0]] = value
        graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(value), node.output[0]))
        folded += 1
    del graph.node[:]
    graph.node.extend(keep)
    used = {i for n in graph.node for i in n.input} | graph_outputs
    unused = [t for t in graph.initializer if t.name not in used]
    for t in unused:
        graph.initializer.remove(t)
    return folded


def fold_file(src, dst):
    """Read ``src``, fold, write ``dst``; returns the number of folded nodes. Errors name the file."""
    import onnx

    try:
        model = onnx.load(src)
    except Exception as exc:  # onnx raises DecodeError / OSError variants
        raise FaceIdError(f"{src}: not a readable ONNX model ({str(exc).splitlines()[0] if str(exc) else exc})") \
            from None
    n = fold(model)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    onnx.save(model, dst)
    return n


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m common.deploy.onnx_fold", description=__doc__.split("\n")[0])
    p.add_argument("src")
    p.add_argument("dst")
    a = p.parse_args(argv)
    n = fold_file(a.src, a.dst)
    print(f"onnx_fold: {n} constant node(s) folded: {a.src} -> {a.dst}")


if __name__ == "__main__":
    from common.core.errors import guard

    guard(main)
