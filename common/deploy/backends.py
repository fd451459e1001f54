"""Embedding backends for extraction: the same network run by MindSpore or, exported, by ONNX Runtime.

    f = make_backend(net, (3, 112, 112), backend="auto", batch_size=64, name="iresnet100")
    emb = f(x)          # float32 NCHW numpy of any batch size -> (N, D) numpy (a tuple for multi-output nets)
    f.backend, f.reason # which one runs, and why

``onnxruntime`` exports the network once to a temporary ONNX file (``common.deploy.export.export``, which also fixes
MindSpore's conv padding order), and uses it only if it reproduces MindSpore on a random batch within
``rel_tol`` (1e-4) of the largest |output|; otherwise it falls back to MindSpore and says why. ``auto`` times
both on this machine at first use (a short timing) and caches the faster per (net, input size, batch, machine)
in ``backends.json`` under ``cache_dir`` (default ``~/.cache/faceid-zoo``). ONNX Runtime is usually faster
on CPUs where MindSpore's bundled oneDNN is capped at AVX2 (README "Speed").

Both backends run one fixed batch shape (the last chunk is zero-padded, padding rows dropped), so graph mode
compiles once and the exported file has a static batch.
"""
import json
import os
import platform
import shutil
import tempfile
import time

import numpy as np

from common.core.errors import FaceIdError
from common.core.fileio import write_json_atomic

BACKENDS = ("mindspore", "onnxruntime", "auto")


class Backend:
    """A callable ``f(x) -> (N, D)`` (or a tuple of arrays) over float32 NCHW numpy, with ``backend``/``reason``."""

    def __init__(self, run_batch, batch_size, backend, reason=""):
        self._run, self.batch_size, self.backend, self.reason = run_batch, int(batch_size), backend, reason

    def __call__(self, x):
        x = np.ascontiguousarray(x, dtype=np.float32)
        b = self.batch_size
        parts = []
        for start in range(0, len(x), b):
            chunk = x[start:start + b]
            n = len(chunk)
            if n < b:
                chunk = np.concatenate([chunk, np.zeros((b - n,) + chunk.shape[1:], np.float32)])
            parts.append([o[:n] for o in self._run(chunk)])
        if not parts:
            raise FaceIdError("embedding backend: empty input batch")
        outs = tuple(np.concatenate([p[k] for p in parts]).astype(np.float32, copy=False)
                     for k in range(len(parts[0])))
        return outs[0] if len(outs) == 1 else outs

    def __repr__(self):
        return f"Backend({self.backend}, batch {self.batch_size}{', ' + self.reason if self.reason else ''})"


def _as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def mindspore_runner(net):
    """One batch through ``net`` in MindSpore (eval mode) -> list of numpy outputs."""
    import mindspore as ms

    net.set_train(False)

    def run(x):
        return [o.asnumpy() for o in _as_list(net(ms.Tensor(x)))]
    return run


def _Fresh(net):
    from mindspore import nn

    class Fresh(nn.Cell):
        def __init__(self):
            super().__init__(auto_prefix=False)
            self.net = net

        def construct(self, x):
            return self.net(x)
    return Fresh()


def onnx_session(path, threads=None):
    from common.core.env import ort_session

    sess = ort_session(path, threads=threads)  # --ort_providers (default: the best installed)
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})


def onnxruntime_runner(net, input_size, batch_size, rel_tol=1e-4, threads=None, seed=0):
    """Export ``net`` to a temporary ONNX, parity-check it against MindSpore; -> (run, max relative diff).

    Raises FaceIdError naming the reason when export, loading or the parity check fails."""
    from common.deploy.export import export

    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise FaceIdError("onnxruntime backend: the onnxruntime package is not installed") from None
    tmp = tempfile.mkdtemp(prefix="faceid-backend-")
    try:
        try:
            # a fresh wrapper per export: MindSpore 2.10 fails exporting one Cell object twice ("out of range")
            path = export(_Fresh(net), tuple(input_size), os.path.join(tmp, "net"), "ONNX", int(batch_size))
            run = onnx_session(path, threads)
        except FaceIdError:
            raise
        except Exception as exc:  # MindSpore's exporter or ONNX Runtime refusing the graph
            raise FaceIdError(f"onnxruntime backend: export failed ({type(exc).__name__}: "
                              f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the session holds the model in memory
    x = np.random.default_rng(seed).standard_normal((int(batch_size),) + tuple(input_size)).astype(np.float32)
    ref, got = mindspore_runner(net)(x), run(x)
    if len(ref) != len(got):
        raise FaceIdError(f"onnxruntime backend: {len(got)} outputs, MindSpore gives {len(ref)}")
    scale = max(float(np.abs(r).max()) for r in ref) or 1.0
    diff = max(float(np.abs(a - b).max()) for a, b in zip(ref, got)) / scale
    if not diff <= rel_tol:
        raise FaceIdError(f"onnxruntime backend: exported outputs differ from MindSpore by {diff:.2e} of the "
                          f"largest |output| (> {rel_tol:g})")
    return run, diff


def machine_id():
    """What the speed of a backend depends on: host, CPU model, usable cores, ISA cap, library versions."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        cores = os.cpu_count()
    versions = []
    for mod in ("mindspore", "onnxruntime"):
        try:
            versions.append(f"{mod}-{__import__(mod).__version__}")
        except ImportError:
            versions.append(f"{mod}-none")
    return "|".join([platform.node(), cpu, f"{cores}cores", os.environ.get("ONEDNN_MAX_CPU_ISA", "")] + versions)


def net_signature(net, name=None):
    """``name`` or the class name plus its parameter count (tells IResNet-50 from IResNet-100)."""
    n = sum(int(np.prod(p.shape)) for p in net.get_parameters())
    return f"{name or type(net).__name__}#{n}"


def _median_time(run, x, repeats):
    run(x)  # warm-up (graph compile, ORT arena)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _cache_path(cache_dir):
    return os.path.join(cache_dir or os.path.join(os.path.expanduser("~"), ".cache", "faceid-zoo"), "backends.json")


def _read_cache(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(path, key, value):
    """Merge one entry into the JSON cache atomically (a failure to write only costs a re-timing later)."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = _read_cache(path)
        data[key] = value
        write_json_atomic(path, data, indent=1, sort_keys=True)
    except OSError:
        pass


def make_backend(net, input_size, backend="mindspore", batch_size=64, name=None, cache_dir=None, rel_tol=1e-4,
                 threads=None, repeats=2, log=print):
    """A :class:`Backend` running ``net`` on float32 NCHW numpy batches of ``input_size`` (C, H, W).

    ``backend``: ``mindspore``, ``onnxruntime`` (falls back to MindSpore, with a printed reason, when export or
    the parity check fails) or ``auto`` (the faster of the two measured here, cached; see the module doc).
    """
    if backend not in BACKENDS:
        raise FaceIdError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    log = log or (lambda *_: None)
    input_size, batch_size = tuple(int(v) for v in input_size), int(batch_size)
    ms_run = mindspore_runner(net)
    if backend == "mindspore":
        return Backend(ms_run, batch_size, "mindspore", "requested")

    key = f"{net_signature(net, name)}|{'x'.join(map(str, input_size))}|b{batch_size}|{machine_id()}"
    path = _cache_path(cache_dir)
    cached = _read_cache(path).get(key) if backend == "auto" else None
    if cached and cached.get("best") == "mindspore":
        return Backend(ms_run, batch_size, "mindspore",
                       f"auto: cached timing {cached.get('mindspore_s', 0):.3g} s vs onnxruntime "
                       f"{cached.get('onnxruntime_s', 0):.3g} s per batch")
    try:
        ort_run, diff = onnxruntime_runner(net, input_size, batch_size, rel_tol, threads)
    except FaceIdError as exc:
        msg = str(exc)
        log(f"embedding backend: using mindspore ({msg})")
        if backend == "auto":
            _write_cache(path, key, {"best": "mindspore", "reason": msg})
        return Backend(ms_run, batch_size, "mindspore", msg)
    parity = f"parity {diff:.1e} relative"
    if backend == "onnxruntime":
        return Backend(ort_run, batch_size, "onnxruntime", f"requested, {parity}")
    if cached and cached.get("best") == "onnxruntime":
        return Backend(ort_run, batch_size, "onnxruntime", f"auto: cached timing, {parity}")
    x = np.random.default_rng(1).standard_normal((batch_size,) + input_size).astype(np.float32)
    t_ms, t_ort = _median_time(ms_run, x, repeats), _median_time(ort_run, x, repeats)
    best = "onnxruntime" if t_ort < t_ms else "mindspore"
    _write_cache(path, key, {"best": best, "mindspore_s": t_ms, "onnxruntime_s": t_ort})
    reason = f"auto: mindspore {t_ms:.3g} s, onnxruntime {t_ort:.3g} s per batch of {batch_size}"
    log(f"embedding backend: {best} ({reason})")
    if best == "onnxruntime":
        return Backend(ort_run, batch_size, best, f"{reason}, {parity}")
    return Backend(ms_run, batch_size, best, reason)
