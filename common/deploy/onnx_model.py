"""Any ONNX face model, scored, compared and searched like a zoo model: ONNX Runtime behind the zoo's preprocessing.

    f = onnx_embedding("w600k_mbf.onnx", (3, 112, 112), batch_size=64)
    emb = f(x)     # float32 NCHW numpy (the preprocessing's output), any batch size -> (N, D) float32
    f.reason       # what was found: input layout, fixed or dynamic batch, output

The preprocessing is not in the ONNX file: it comes from a config (``preprocess`` of a recipe YAML, or the
command line's ``--preprocess {...}``), and the model's input is checked against it before anything is embedded
(one line naming the file, its input shape and the preprocessing's). Handled inputs: NCHW, or NHWC (transposed
here), float32 or float16; the batch dimension dynamic (run in chunks of ``batch_size``) or fixed (a fixed batch
of 1 runs image by image, a fixed batch of B in chunks of B with the last one zero-padded and the padding rows
dropped). The embedding is the model's first output, ``(N, D)`` or ``(N, D, 1, 1)``. ``onnx_embedder`` wraps it
with its preprocessing and alignment template for ``common.compare`` / ``common.identify``.
"""
import os

import numpy as np

from common.core.errors import FaceIdError
from common.deploy.backends import Backend


def _dims_text(dims):
    return "[" + ", ".join(str(d) if isinstance(d, int) else (str(d) if d else "?") for d in dims) + "]"


def _fits(dims, want):
    """Each fixed dim equals the wanted one (symbolic / unknown dims fit anything)."""
    return all(not isinstance(d, int) or d <= 0 or d == w for d, w in zip(dims, want))


def input_layout(path, name, dims, input_size):
    """-> ("NCHW" | "NHWC", fixed batch or None) for an input of shape ``dims`` fed ``input_size`` (C, H, W);
    FaceIdError (one line) when the preprocessing's output cannot be this input."""
    c, h, w = (int(v) for v in input_size)
    if len(dims) != 4:
        raise FaceIdError(f"{path}: input '{name}' has shape {_dims_text(dims)} ({len(dims)} dims); a face model "
                          f"takes images N x C x H x W (or N x H x W x C)")
    layout = None
    if _fits(dims[1:], (c, h, w)):
        layout = "NCHW"
    elif _fits(dims[1:], (h, w, c)) and isinstance(dims[3], int) and dims[3] in (1, 3):
        layout = "NHWC"
    if layout is None:
        raise FaceIdError(f"{path}: input '{name}' is {_dims_text(dims)} (N, C, H, W) but the preprocessing gives "
                          f"{c}x{h}x{w} (C x H x W); set preprocess resize/crop/channels to the model's input "
                          f"(--preprocess or the config's preprocess)")
    batch = dims[0] if isinstance(dims[0], int) and dims[0] > 0 else None
    return layout, batch


def onnx_embedding(path, input_size, batch_size=64, threads=None, log=print):
    """A :class:`common.deploy.backends.Backend` running the ONNX face model ``path`` on float32 NCHW batches of
    ``input_size`` (C, H, W): the model's input and first output are checked here, by one zero batch, before
    any image is read."""
    if not path or not os.path.isfile(path):
        raise FaceIdError(f"--onnx {path}: ONNX model file not found")
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise FaceIdError("--onnx: the onnxruntime package is not installed (pip install onnxruntime)") from None
    from common.core.env import ort_session

    try:
        sess = ort_session(path, threads=threads)  # --ort_providers (default: the best installed)
    except FaceIdError:
        raise
    except Exception as exc:  # not an ONNX file, an operator ONNX Runtime lacks, a truncated file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FaceIdError(f"{path}: ONNX Runtime cannot load this model ({first[:300]})") from None
    inputs = sess.get_inputs()
    if len(inputs) != 1:
        raise FaceIdError(f"{path}: the model has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); a face "
                          f"model takes one image batch")
    inp = inputs[0]
    dtypes = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
    if inp.type not in dtypes:
        raise FaceIdError(f"{path}: input '{inp.name}' is {inp.type}; expected float32 or float16 images")
    dtype = dtypes[inp.type]
    dims = list(inp.shape)
    layout, fixed = input_layout(path, inp.name, dims, input_size)
    batch = fixed or int(batch_size)
    out = sess.get_outputs()[0]

    def run(x):
        if layout == "NHWC":
            x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        y = np.asarray(sess.run([out.name], {inp.name: x.astype(dtype, copy=False)})[0])
        if y.ndim == 4 and y.shape[2:] == (1, 1):
            y = y.reshape(y.shape[0], -1)
        if y.ndim != 2 or y.shape[0] != len(x):
            raise FaceIdError(f"{path}: output '{out.name}' has shape {list(y.shape)} for a batch of {len(x)}; "
                              f"expected (N, D) embeddings")
        return [y.astype(np.float32, copy=False)]

    try:
        probe = run(np.zeros((batch,) + tuple(int(v) for v in input_size), np.float32))[0]
    except FaceIdError:
        raise
    except Exception as exc:  # ONNX Runtime refusing the shape at run time (a Reshape fixed to another size)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FaceIdError(f"{path}: running input '{inp.name}' {_dims_text(dims)} on a {batch}x"
                          f"{'x'.join(map(str, input_size))} batch failed ({first[:300]})") from None
    extra = len(sess.get_outputs()) - 1
    reason = (f"{os.path.basename(path)}: input '{inp.name}' {_dims_text(dims)} {layout}, "
              f"{'fixed batch ' + str(fixed) if fixed else 'dynamic batch, chunks of ' + str(batch)}, "
              f"output '{out.name}' -> {probe.shape[1]}-d embedding"
              + (f" (the first of {extra + 1} outputs)" if extra else ""))
    backend = Backend(run, batch, "onnxruntime", reason)
    backend.dim, backend.path, backend.fixed_batch = int(probe.shape[1]), os.path.abspath(path), fixed
    return backend


def onnx_embedder(path, config=None, preprocess=None, align=None, batch_size=64, log=print):
    """The embedder ``common.compare`` / ``common.identify`` use for an ONNX model: its preprocessing is
    ``preprocess`` (a mapping, or YAML text of one) if given, else the ``preprocess`` of the YAML ``config``;
    its alignment template ``align``, else the config's ``align``."""
    from common.core.config import parse_value, read_yaml
    from common.data.transforms import Preprocess
    from common.recipes.load import Embedder

    data = read_yaml(config) if config else {}
    source = f"{config}: preprocess" if config else "--preprocess"
    if isinstance(preprocess, str):
        preprocess = parse_value(preprocess)
        if not isinstance(preprocess, dict):
            raise FaceIdError(f"--preprocess {preprocess!r}: expected a mapping such as "
                              f"'{{resize: [112, 112], mean: 127.5, std: 128.0}}'")
    if preprocess is not None:
        source = "--preprocess"
    elif "preprocess" in data:
        preprocess = data["preprocess"]
    else:
        raise FaceIdError(f"--onnx {path}: the preprocessing is not in an ONNX file; give --config YAML (with "
                          f"preprocess) or --preprocess '{{channels: 3, resize: [112, 112], mean: 127.5, std: 128.0}}'")
    pre = Preprocess.from_config(preprocess, source=source)
    net = onnx_embedding(path, pre.output_size, batch_size, log=log)
    log(f"onnx: {net.reason}")
    return Embedder(data, net, pre, align or data.get("align"), os.path.basename(path))
