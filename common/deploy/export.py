"""Export an inference network (classifier dropped) to MINDIR / ONNX / AIR, with a parity check and a sidecar.

MINDIR is reloaded with ``mindspore.load`` + ``nn.GraphCell`` and ONNX run with onnxruntime;
both must reproduce the Python network on a random batch within ``tol`` or the export fails.
AIR needs the Ascend backend (MindSpore for Ascend with CANN) and is refused elsewhere.

Sidecar: beside every exported file ``F`` (``model.onnx``, ``model.mindir``, ``model.air``) the JSON file
``F.json`` (``model.onnx.json``...) says how its input must be prepared and what it outputs, so the file alone
is enough for inference (``load_exported``, ``python -m common.infer310``, ``run_infer_310.sh``)::

    format_version, file, format, model, backbone,
    preprocess        the Preprocess fields (channels, color, resize, crop, mean, std, flip, interp), exactly
                      what ``common.data.transforms.Preprocess.from_config`` takes back
    preprocess_rules  the same in words: decode, colour order, resize rule + interpolation, crop, scaling
    eval_flip         whether the Python eval adds the mirrored image's embedding (the exported file does not)
    input             {name, shape [N, C, H, W], dtype float32, layout NCHW}
    outputs           [{name (the file's), meaning (embedding | mu | sigma_sq ...), shape}]
    checkpoint        {path (absolute), sha256}
    parity            {max_abs_diff, tolerance} (null for AIR: not checked here)
    mindspore_version, created, config (the resolved config), align (the alignment template, if configured)

It is written atomically, only after the parity check passed; an export over an existing file removes the
old sidecar first, so a file whose export failed has none and is refused by the loaders.
"""
import dataclasses
import datetime
import hashlib
import os

import mindspore as ms
import numpy as np
from mindspore import nn

from common.core.errors import FaceIdError
from common.deploy.sidecar import (output_meanings, preprocess_from_sidecar, read_sidecar, sidecar_path,  # noqa: F401
                            write_sidecar)

SUFFIX = {"MINDIR": ".mindir", "ONNX": ".onnx", "AIR": ".air"}
SIDECAR_VERSION = 1


DYNAMIC = "dynamic"
ONNX_PROBE_BATCH = 3  # the batch a dynamic ONNX is traced at before its batch axis is made symbolic


def is_dynamic(batch_size):
    return str(batch_size).lower() == DYNAMIC


def export(net, input_size, file_name, file_format="MINDIR", batch_size=1, device="CPU"):
    """Write ``file_name`` + suffix; returns the path. ``input_size`` is (C, H, W). ``batch_size``: N (a static
    batch) or ``"dynamic"``: MINDIR with a None batch dimension, ONNX with the symbolic batch axis ``N``
    (:func:`make_onnx_batch_dynamic`); AIR is static only."""
    fmt = file_format.upper()
    if fmt not in SUFFIX:
        raise FaceIdError(f"--file_format must be MINDIR, ONNX or AIR, got {file_format!r}")
    if fmt == "AIR" and device != "Ascend":
        raise FaceIdError("AIR export needs the Ascend backend (MindSpore for Ascend with the CANN toolkit, "
                          "--device_target Ascend); on this device export MINDIR or ONNX")
    dynamic = is_dynamic(batch_size)
    if dynamic and fmt == "AIR":
        raise FaceIdError("--batch_size dynamic: AIR takes a static batch; give --batch_size N (or export "
                          "MINDIR / ONNX, which take a dynamic batch)")
    net.set_train(False)
    os.makedirs(os.path.dirname(os.path.abspath(file_name)) or ".", exist_ok=True)
    base = file_name[: -len(SUFFIX[fmt])] if file_name.endswith(SUFFIX[fmt]) else file_name
    path = base + SUFFIX[fmt]
    if os.path.exists(sidecar_path(path)):
        os.remove(sidecar_path(path))  # it described the file about to be replaced
    if dynamic and fmt == "MINDIR":
        x = ms.Tensor(shape=[None] + list(input_size), dtype=ms.float32)
    else:
        n = ONNX_PROBE_BATCH if dynamic else int(batch_size)
        x = ms.Tensor(np.zeros((n,) + tuple(input_size), np.float32))
    ms.export(net, x, file_name=base, file_format=fmt)
    if fmt == "ONNX":
        fix_onnx_conv_pads(path)
        if dynamic:
            make_onnx_batch_dynamic(path, ONNX_PROBE_BATCH)
    return path


def make_onnx_batch_dynamic(path, traced_batch, name="N"):
    """Make the batch axis of an ONNX file traced at ``traced_batch`` symbolic (``name``): the first dimension
    of the graph's inputs and outputs, and of every constant Reshape target that starts with the traced batch
    (set to 0: "copy the input's batch"); the intermediate shapes are dropped for ONNX Runtime to infer again.
    The export's parity check then runs the file at two other batch sizes. Returns the Reshapes changed."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    consts = {n.output[0]: n for n in graph.node if n.op_type == "Constant"}
    changed = 0
    for node in graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2:
            continue
        src = node.input[1]
        if src in inits:
            shape = numpy_helper.to_array(inits[src])
            if shape.ndim == 1 and len(shape) and shape[0] == traced_batch:
                shape = shape.copy()
                shape[0] = 0
                inits[src].CopyFrom(numpy_helper.from_array(shape.astype(shape.dtype), src))
                changed += 1
        elif src in consts:
            for attr in consts[src].attribute:
                if attr.name == "value":
                    shape = numpy_helper.to_array(attr.t)
                    if shape.ndim == 1 and len(shape) and shape[0] == traced_batch:
                        shape = shape.copy()
                        shape[0] = 0
                        attr.t.CopyFrom(numpy_helper.from_array(shape, attr.t.name))
                        changed += 1
    init_names = set(inits)
    for v in list(graph.input) + list(graph.output):
        if v.name in init_names:
            continue
        dims = v.type.tensor_type.shape.dim
        if dims:
            dims[0].Clear()
            dims[0].dim_param = name
    del graph.value_info[:]
    onnx.save(model, path)
    return changed


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
        from common.core.env import ort_session

        sess = ort_session(path, providers="cpu")  # the parity check: float32 on the CPU (no TF32 / fp16 paths)
        return sess.run(None, {sess.get_inputs()[0].name: x})
    raise FaceIdError(f"{path}: cannot run this format here (MINDIR or ONNX)")


def _outputs_of(net, x):
    out = net(ms.Tensor(x))
    return [r.asnumpy() for r in (out if isinstance(out, (tuple, list)) else [out])]


def parity(net, path, input_size, batch_size=1, tol=None, seed=0):
    """Max |exported - Python| on a random batch; FaceIdError if above ``tol``.

    ``tol`` None: 1e-5 x the largest |output|, at least 1e-4 (un-normalised embeddings of deep nets reach
    10-100, where float32 re-ordering alone differs by more than 1e-4). Returns (diff, tol, output shapes).
    """
    x = np.random.default_rng(seed).standard_normal((batch_size,) + tuple(input_size)).astype(np.float32)
    net.set_train(False)
    ref = _outputs_of(net, x)
    if tol is None:
        tol = max(1e-4, 1e-5 * max(float(np.abs(r).max()) for r in ref))
    got = run_exported(path, x)
    if len(got) != len(ref):
        raise FaceIdError(f"{path}: the exported file has {len(got)} output(s), the Python network {len(ref)}")
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(ref, got))
    if not diff <= tol:
        raise FaceIdError(f"{path}: exported outputs differ from the Python network by {diff:.3g} (> {tol})")
    return diff, float(tol), [list(r.shape) for r in ref]


# ---------------------------------------------------------------- the sidecar

def sha256_file(path, chunk=1 << 22):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def preprocess_fields(pre):
    """The Preprocess dataclass as a plain dict (``Preprocess.from_config`` takes it back)."""
    return {f.name: _plain(getattr(pre, f.name)) for f in dataclasses.fields(pre)}


def preprocess_rules(pre):
    """The preprocessing in words, for a reader implementing it elsewhere (C++, another framework)."""
    fields = preprocess_fields(pre)
    gray = fields.get("channels") == 1
    color = "gray (1 channel)" if gray else f"{str(fields.get('color', 'rgb')).upper()} (3 channels)"
    resize = fields.get("resize")
    if resize is None:
        resize_rule = "none (the decoded size is kept)"
    elif isinstance(resize, list):
        resize_rule = (f"centre crop to the aspect ratio {resize[0]}:{resize[1]} (none when the image has it; "
                       f"a 112x112 image for 112x96 keeps columns 8..104), then exactly {resize[0]}x{resize[1]} "
                       f"(H x W)")
    else:
        resize_rule = f"shorter side to {resize}, aspect ratio kept (other side rounded)"
    interp = fields.get("interp", "auto")
    crop = fields.get("crop")
    return {
        "decode": f"OpenCV imdecode -> {color}, uint8 HxWxC",
        "color_order": "gray" if gray else str(fields.get("color", "rgb")).upper(),
        "resize": resize_rule,
        "interpolation": ("OpenCV INTER_AREA when shrinking, INTER_LINEAR when enlarging" if interp == "auto"
                          else f"OpenCV INTER_{str(interp).upper()}"),
        "crop": "none" if crop is None else f"centre {crop} (eval; training crops at random)",
        "scale": f"(pixel - {fields.get('mean')}) / {fields.get('std')}, float32, CHW",
        "train_flip": bool(fields.get("flip")),
    }


def _plain(v):
    """A JSON-safe copy (tuples -> lists, numpy scalars -> numbers, other objects -> str)."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def _onnx_io(path):
    """(input {name, shape}, [output {name, shape}]) read from an ONNX file; symbolic dims as their names."""
    import onnx

    graph = onnx.load(path, load_external_data=False).graph
    inits = {t.name for t in graph.initializer}

    def shape(v):
        return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in v.type.tensor_type.shape.dim]

    inputs = [{"name": v.name, "shape": shape(v)} for v in graph.input if v.name not in inits]
    return inputs[0], [{"name": v.name, "shape": shape(v)} for v in graph.output]


def build_sidecar(cfg, path, fmt, batch, input_size, preprocess, outputs, out_shapes, parity_figures, flip=None):
    """The sidecar dict of ``path`` (see the module docstring)."""
    meanings = list(outputs or ())
    if fmt == "ONNX":
        inp, outs = _onnx_io(path)
    else:
        inp = {"name": "x", "shape": ["N" if is_dynamic(batch) else batch] + list(input_size)}
        outs = [{"name": m, "shape": s} for m, s in zip(meanings, out_shapes or [None] * len(meanings))]
    n_out = len(outs) if outs else len(meanings)
    if meanings and len(meanings) != n_out:
        raise FaceIdError(f"{path}: the file has {n_out} output(s) but the recipe names {len(meanings)}: "
                          f"{', '.join(meanings)}")
    for k, o in enumerate(outs):
        o["meaning"] = meanings[k] if meanings else f"output{k}"
        if out_shapes and k < len(out_shapes) and fmt == "ONNX" and not all(isinstance(d, int) for d in o["shape"]):
            o["shape"] = out_shapes[k]
    inp.update(dtype="float32", layout="NCHW")
    ckpt = cfg.get("ckpt_file")
    meta = {
        "format_version": SIDECAR_VERSION,
        "file": os.path.basename(path),
        "format": fmt,
        "model": cfg.get("model"),
        "backbone": cfg.get("backbone"),
        "preprocess": preprocess_fields(preprocess),
        "preprocess_rules": preprocess_rules(preprocess),
        "eval_flip": bool(cfg.get("flip") if flip is None else flip),
        "input": inp,
        "outputs": outs,
        "checkpoint": ({"path": os.path.abspath(ckpt), "sha256": sha256_file(ckpt)}
                       if ckpt and os.path.isfile(ckpt) else None),
        "parity": (None if parity_figures is None else
                   {"max_abs_diff": parity_figures[0], "tolerance": parity_figures[1]}),
        "mindspore_version": ms.__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": _plain(dict(cfg)),
    }
    if cfg.get("align") is not None:
        meta["align"] = _plain(cfg.get("align"))
    return meta


EXPORT_KEYS = ("ckpt_file", "file_name", "file_format", "batch_size_export", "export_tol")


def export_checked(cfg, build, device, input_size=None, what="embedding", outputs=("embedding",), preprocess=None,
                   flip=None):
    """The export flow of every model: ``build()`` returns a fresh network loaded from ``cfg.ckpt_file``;
    export it (``--file_format``, ``--file_name``, ``--batch_size_export``), check a second fresh network against
    the file (except AIR; exporting one net object twice can fail in MindSpore), then write the sidecar
    ``<file>.json``. ``outputs`` names the network's outputs in order (PFE: ``("mu", "sigma_sq")``);
    ``preprocess`` is the Preprocess the model was trained with (default: ``cfg.preprocess``); ``flip`` the
    eval flip policy (default: ``cfg.flip``). The preprocessing must produce the network's input size.
    Returns (path, diff)."""
    from common.data.transforms import Preprocess

    pre = preprocess if preprocess is not None else Preprocess.from_config(cfg.get("preprocess"))
    net = build()
    size = tuple(input_size or net.input_size)
    try:
        pre_size = tuple(pre.output_size)
    except (ValueError, FaceIdError):
        pre_size = None
    if pre_size is not None and pre_size != size:
        raise FaceIdError(f"{cfg.get('config') or 'config'}: preprocess gives {pre_size} (C, H, W) but the network "
                          f"takes {size}; the export would describe an input the network cannot use")
    fmt = str(cfg.get("file_format", "MINDIR")).upper()
    given = cfg.get("batch_size_export", 1)
    dynamic = is_dynamic(given)
    batch = DYNAMIC if dynamic else int(given)
    path = export(net, size, cfg.get("file_name") or cfg.model, fmt, batch, device)
    shape = f"{'N' if dynamic else batch}x{'x'.join(map(str, size))}"
    if fmt == "AIR":
        write_sidecar(path, build_sidecar(cfg, path, fmt, batch, size, pre, outputs, None, None,
                                                            flip))
        print(f"exported {path} (AIR, input {shape}); sidecar {sidecar_path(path)}")
        return path, None
    if dynamic:  # the symbolic batch must work at more than the traced size: two other batches
        fresh = build()
        checks = []
        for b in (1, 5):
            try:
                checks.append(parity(fresh, path, size, b, tol=cfg.get("export_tol"), seed=b))
            except FaceIdError:
                raise
            except Exception as exc:  # noqa: BLE001  (a graph with the traced batch baked in somewhere)
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                raise FaceIdError(f"{path}: the dynamic-batch {fmt} does not run at batch {b} ({first}); export "
                                  f"a static --batch_size N instead") from None
        diff, tol = max(c[0] for c in checks), checks[0][1]
        out_shapes = [["N"] + s[1:] for s in checks[0][2]]
    else:
        diff, tol, out_shapes = parity(build(), path, size, batch, tol=cfg.get("export_tol"))
    write_sidecar(path, build_sidecar(cfg, path, fmt, batch, size, pre, outputs, out_shapes,
                                                        (diff, tol), flip))
    print(f"exported {path} ({fmt}, input {shape}, {what}); max |exported - Python| = {diff:.2e} "
          f"(tolerance {tol:.1e}); sidecar {sidecar_path(path)}")
    return path, diff


# ---------------------------------------------------------------- inference from an export

class Exported:
    """An exported MINDIR / ONNX file with its sidecar: ``.preprocess``, ``.meta``, ``.run(x) -> [arrays]``.

    ``run`` takes float32 NCHW of any batch size; a file with a fixed batch is fed in chunks of that batch (the
    last zero-padded, its padding rows dropped)."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.meta = read_sidecar(self.path)
        self.preprocess = preprocess_from_sidecar(self.meta, sidecar_path(self.path))
        self.output_names = output_meanings(self.meta)
        dims = self.meta["input"].get("shape") or []
        self.input_size = tuple(int(d) for d in dims[1:]) if dims else None
        self.batch = dims[0] if dims and isinstance(dims[0], int) and dims[0] > 0 else None
        if self.path.endswith(".onnx"):
            from common.core.env import ort_session

            self._sess = ort_session(self.path)  # --ort_providers (default: the best installed)
            self._input = self._sess.get_inputs()[0].name
            self._call = lambda x: self._sess.run(None, {self._input: x})
        elif self.path.endswith(".mindir"):
            graph = nn.GraphCell(ms.load(self.path))

            def call(x):
                out = graph(ms.Tensor(x))
                return [o.asnumpy() for o in (out if isinstance(out, (tuple, list)) else [out])]
            self._call = call
        else:
            raise FaceIdError(f"{path}: cannot run this format here (MINDIR or ONNX)")

    def run(self, x):
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.input_size and tuple(x.shape[1:]) != self.input_size:
            raise FaceIdError(f"{self.path}: input of shape {tuple(x.shape[1:])} given, the model takes "
                              f"{self.input_size} (C, H, W)")
        if self.batch is None or len(x) == self.batch:
            return list(self._call(x))
        parts = []
        for start in range(0, len(x), self.batch):
            chunk = x[start:start + self.batch]
            n = len(chunk)
            if n < self.batch:
                chunk = np.concatenate([chunk, np.zeros((self.batch - n,) + chunk.shape[1:], np.float32)])
            parts.append([o[:n] for o in self._call(chunk)])
        return [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]

    def embed_files(self, paths):
        """Outputs for image files, prepared exactly as the sidecar says."""
        return self.run(np.stack([self.preprocess.eval_array(p) for p in paths]))


def load_exported(path):
    """An exported model ready for Python inference (see :class:`Exported`); refused without its sidecar."""
    return Exported(path)
