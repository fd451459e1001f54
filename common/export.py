"""Export an embedding network (classifier dropped) to MINDIR / ONNX / AIR, with a parity check.

MINDIR is reloaded with ``mindspore.load`` + ``nn.GraphCell`` and ONNX run with onnxruntime;
both must reproduce the Python network on a random batch within ``tol`` or the export fails.
AIR needs the Ascend backend (MindSpore for Ascend with CANN) and is refused elsewhere.
"""
import os

import mindspore as ms
import numpy as np
from mindspore import nn

SUFFIX = {"MINDIR": ".mindir", "ONNX": ".onnx", "AIR": ".air"}


def export(net, input_size, file_name, file_format="MINDIR", batch_size=1, device="CPU"):
    """Write ``file_name`` + suffix; returns the path. ``input_size`` is (C, H, W)."""
    fmt = file_format.upper()
    if fmt not in SUFFIX:
        raise SystemExit(f"error: --file_format must be MINDIR, ONNX or AIR, got {file_format!r}")
    if fmt == "AIR" and device != "Ascend":
        raise SystemExit("error: AIR export needs the Ascend backend (MindSpore for Ascend with the CANN toolkit, "
                         "--device_target Ascend); on this device export MINDIR or ONNX")
    net.set_train(False)
    os.makedirs(os.path.dirname(os.path.abspath(file_name)) or ".", exist_ok=True)
    base = file_name[: -len(SUFFIX[fmt])] if file_name.endswith(SUFFIX[fmt]) else file_name
    x = ms.Tensor(np.zeros((batch_size,) + tuple(input_size), np.float32))
    ms.export(net, x, file_name=base, file_format=fmt)
    if fmt == "ONNX":
        fix_onnx_conv_pads(base + SUFFIX[fmt])
    return base + SUFFIX[fmt]


def fix_onnx_conv_pads(path):
    """MindSpore 2.10 writes a Conv's explicit padding in its own (top, bottom, left, right) order, while ONNX
    reads ``pads`` as (top, left, bottom, right); reorder them (a no-op when bottom == left, so
    only nets with unequal H/W padding, e.g. 1x7 / 7x1 convs, change). The parity check then confirms."""
    import onnx

    model = onnx.load(path)
    changed = 0
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        for attr in node.attribute:
            if attr.name == "pads" and len(attr.ints) == 4 and attr.ints[1] != attr.ints[2]:
                t, b, l, r = attr.ints
                attr.ints[:] = [t, l, b, r]
                changed += 1
    if changed:
        onnx.save(model, path)
    return changed


def run_exported(path, x):
    """Outputs of an exported MINDIR / ONNX file on ``x`` (numpy), as a list of arrays."""
    if path.endswith(".mindir"):
        graph = nn.GraphCell(ms.load(path))
        out = graph(ms.Tensor(x))
        return [o.asnumpy() for o in (out if isinstance(out, (tuple, list)) else [out])]
    if path.endswith(".onnx"):
        import onnxruntime as ort

        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        return sess.run(None, {sess.get_inputs()[0].name: x})
    raise ValueError(f"{path}: cannot run this format here")


def parity(net, path, input_size, batch_size=1, tol=None, seed=0):
    """Max |exported - Python| on a random batch; SystemExit if above ``tol``.

    ``tol`` None: 1e-5 x the largest |output|, at least 1e-4 (un-normalised embeddings of deep nets reach
    10-100, where float32 re-ordering alone differs by more than 1e-4). Returns (diff, tol).
    """
    x = np.random.default_rng(seed).standard_normal((batch_size,) + tuple(input_size)).astype(np.float32)
    net.set_train(False)
    ref = net(ms.Tensor(x))
    ref = [r.asnumpy() for r in (ref if isinstance(ref, (tuple, list)) else [ref])]
    if tol is None:
        tol = max(1e-4, 1e-5 * max(float(np.abs(r).max()) for r in ref))
    got = run_exported(path, x)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(ref, got))
    if not diff <= tol:
        raise SystemExit(f"error: {path}: exported outputs differ from the Python network by {diff:.3g} (> {tol})")
    return diff, tol


EXPORT_KEYS = ("ckpt_file", "file_name", "file_format", "batch_size_export", "export_tol")


def export_checked(cfg, build, device, input_size=None, what="embedding"):
    """The export.py flow of every model: ``build()`` returns a fresh network loaded from ``cfg.ckpt_file``;
    export it (``--file_format``, ``--file_name``, ``--batch_size_export``) and, except for AIR, check a second
    fresh network against the file (exporting one net object twice can fail in MindSpore). Returns (path, diff)."""
    net = build()
    size = tuple(input_size or net.input_size)
    fmt = str(cfg.get("file_format", "MINDIR")).upper()
    batch = int(cfg.get("batch_size_export", 1))
    path = export(net, size, cfg.get("file_name") or cfg.model, fmt, batch, device)
    shape = f"{batch}x{'x'.join(map(str, size))}"
    if fmt == "AIR":
        print(f"exported {path} (AIR, input {shape})")
        return path, None
    diff, tol = parity(build(), path, size, batch, tol=cfg.get("export_tol"))
    print(f"exported {path} ({fmt}, input {shape}, {what}); max |exported - Python| = {diff:.2e} "
          f"(tolerance {tol:.1e})")
    return path, diff
