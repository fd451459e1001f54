"""Process environment defaults that must be set before ``import mindspore``.

On AVX-512 CPUs MindSpore 2.10's bundled oneDNN runs convolutions with its
reference kernel (40-240x slower) unless ``ONEDNN_MAX_CPU_ISA=AVX2`` is in the
environment before mindspore is imported. We set that default here; a value the
user exported already wins. Every entry point imports this module first.
"""
import os

DEFAULTS = {
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "GLOG_v": "3",  # MindSpore's C++ log: errors only, unless the user asks for more
}


def apply_defaults(env=os.environ):
    """Set each default that is not already present. Returns the keys set."""
    applied = []
    for key, value in DEFAULTS.items():
        if key not in env:
            env[key] = value
            applied.append(key)
    return applied


apply_defaults()

from common.core.errors import FaceIdError  # noqa: E402  (after the defaults: nothing here imports mindspore)


def installed_device():
    """The device the installed MindSpore can run on here: Ascend (CANN + NPU), else GPU (CUDA + GPU), else CPU.

    Tests fake another build's answer with ``FACEID_FAKE_DEVICE=Ascend|GPU|CPU`` (never set it otherwise)."""
    fake = os.environ.get("FACEID_FAKE_DEVICE")
    if fake:
        return {"cpu": "CPU", "gpu": "GPU", "ascend": "Ascend"}.get(fake.lower(), fake)
    import logging

    import mindspore as ms

    logger = logging.getLogger("mindspore")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # a missing plugin is the normal answer on other machines: no warning
    try:
        for target in ("Ascend", "GPU"):
            try:
                if ms.hal.is_available(target):
                    return target
            except Exception:  # noqa: BLE001  (a plugin that fails to load means: not this device)
                continue
    finally:
        logger.setLevel(level)
    return "CPU"


def resolve_device(target):
    """``auto`` (or None) -> :func:`installed_device`; other spellings normalised (cpu -> CPU).

    ``auto`` never falls back to the CPU while an NVIDIA GPU or an Ascend NPU is visible: it stops with one line
    naming the missing piece and the fix (common.core.doctor); ``--device_target CPU`` still runs on the CPU."""
    if target is None or str(target).lower() == "auto":
        found = installed_device()
        if found == "CPU" and not os.environ.get("FACEID_FAKE_DEVICE"):
            from common.core.doctor import accelerator_blocker

            why = accelerator_blocker()
            if why:
                raise FaceIdError(f"device_target auto: {why}")
        return found
    return {"cpu": "CPU", "gpu": "GPU", "ascend": "Ascend"}.get(str(target).lower(), target)


def device_problem(target, ms_message=None):
    """One line: why MindSpore cannot use ``target`` (GPU/Ascend) here and the fix (common.core.doctor)."""
    from common.core.doctor import plugin_message, problem

    if os.environ.get("FACEID_FAKE_DEVICE"):
        return f"the installed MindSpore build runs on {installed_device()}, not {target}"
    return problem(target, ms_message=plugin_message(ms_message, target) if ms_message else None) or (
        f"MindSpore reports {target} unavailable")


def set_device(target="auto", device_id=None):
    """Select the device with MindSpore's current API (``auto``: the installed build's device); a clear error if
    the build lacks it.

    Inside one process MindSpore fixes the device once kernels have run; asking again for the same
    device is then a no-op, asking for another one is an error."""
    import mindspore as ms

    auto = target is None or str(target).lower() == "auto"
    target = resolve_device(target)
    if device_id is None and target in ("GPU", "Ascend"):  # mpirun: the local rank's device, not device 0
        from common.core.distributed import launcher_device_id

        device_id, where = launcher_device_id()
        if device_id is not None:
            print(f"device id {device_id} (from {where})", flush=True)
    if auto:
        print(f"device: {target} (device_target auto: what the installed MindSpore runs on here)", flush=True)
    if target == "CPU" and device_id is not None and installed_device() == "CPU":
        print(f"note: device id {device_id}: the installed MindSpore build runs on the CPU only; this run uses "
              f"the CPU (the device id is not used)", flush=True)
    try:
        if device_id is None:
            ms.set_device(target)
        else:
            ms.set_device(target, int(device_id))
    except (RuntimeError, ValueError) as exc:
        msg = str(exc).strip().splitlines()[0]
        current = ms.get_context("device_target")
        if ("initialized" in msg or "can not be modified" in msg) and current == target:
            return target
        if "initialized" in msg or "can not be modified" in msg:
            raise FaceIdError(f"cannot use --device_target {target}: this process already runs on {current}")
        if target in ("GPU", "Ascend"):  # the exact missing piece (CUDA 11, cuDNN, CANN ...) and its fix
            raise FaceIdError(f"cannot use --device_target {target}: {device_problem(target, str(exc))}") from None
        raise FaceIdError(f"cannot use --device_target {target}: {msg}") from None
    return target


# ---------------------------------------------------------------- ONNX Runtime execution providers

ORT_NAMES = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider",
             "cann": "CANNExecutionProvider", "cpu": "CPUExecutionProvider", "rocm": "ROCMExecutionProvider"}
# --ort_providers auto: the best installed of these, in this order, then the CPU. TensorRT only when asked
# (it builds an engine per input shape at the first run: minutes)
ORT_AUTO = ("cuda", "cann")
_ORT_SELECTED = {"spec": None}


def ort_available():
    """The execution providers the installed onnxruntime offers ([] without onnxruntime)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return []
    return list(ort.get_available_providers())


def set_ort_providers(spec):
    """The process-wide ``--ort_providers`` choice (None/'auto': the best installed); checked now."""
    _ORT_SELECTED["spec"] = None if spec in (None, "", "auto") else spec
    return ort_providers()


def ort_providers(spec=None):
    """ONNX Runtime providers for a session: ``spec`` 'cuda,tensorrt,cann,cpu' (names in ORT_NAMES, in order
    of preference), else the ``--ort_providers`` set for this process, else $FACEID_ORT_PROVIDERS, else auto:
    the best installed of CUDA, CANN, then the CPU. A provider asked for but absent is an error naming it."""
    spec = spec or _ORT_SELECTED["spec"] or os.environ.get("FACEID_ORT_PROVIDERS") or "auto"
    have = ort_available()
    if str(spec).lower() == "auto":
        chosen = [ORT_NAMES[k] for k in ORT_AUTO if ORT_NAMES[k] in have]
        return chosen + ["CPUExecutionProvider"]
    names = [n.strip().lower() for n in str(spec).split(",") if n.strip()]
    bad = [n for n in names if n not in ORT_NAMES]
    if bad or not names:
        raise FaceIdError(f"--ort_providers {spec}: unknown provider {', '.join(bad) or '(none)'} "
                          f"(choose from {', '.join(ORT_NAMES)}, comma separated, or auto)")
    absent = [n for n in names if ORT_NAMES[n] not in have]
    if absent:
        hint = ("pip install onnxruntime-gpu (CUDA/TensorRT), or onnxruntime-cann (Ascend)"
                if any(n != "cpu" for n in absent) else "")
        raise FaceIdError(f"--ort_providers {spec}: this onnxruntime has no "
                          f"{', '.join(ORT_NAMES[n] for n in absent)} (it offers {', '.join(have) or 'none'}); "
                          f"{hint}")
    chosen = [ORT_NAMES[n] for n in names]
    return chosen if "CPUExecutionProvider" in chosen else chosen + ["CPUExecutionProvider"]


def ort_session(path, options=None, providers=None, threads=None):
    """An onnxruntime InferenceSession on :func:`ort_providers` (``providers``: a spec as --ort_providers takes),
    with ``threads`` intra-op threads when no ``options`` are given. A provider asked for explicitly that fails to
    start (missing CUDA/TensorRT libraries) is an error, not a silent CPU run."""
    import onnxruntime as ort

    if options is None and threads:
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
    chosen = ort_providers(providers)
    sess = ort.InferenceSession(path, options, providers=chosen)
    explicit = providers or _ORT_SELECTED["spec"] or os.environ.get("FACEID_ORT_PROVIDERS")
    if explicit and str(explicit).lower() != "auto":
        got = set(sess.get_providers())
        lost = [p for p in chosen if p not in got]
        if lost:
            where = path if isinstance(path, str) else "ONNX model"
            raise FaceIdError(f"{where}: onnxruntime could not start {', '.join(lost)} (running on "
                              f"{', '.join(sess.get_providers())}); check its CUDA/TensorRT/CANN libraries, "
                              f"or choose --ort_providers cpu")
    return sess
