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
    """``auto`` (or None) -> :func:`installed_device`; other spellings normalised (cpu -> CPU)."""
    if target is None or str(target).lower() == "auto":
        return installed_device()
    return {"cpu": "CPU", "gpu": "GPU", "ascend": "Ascend"}.get(str(target).lower(), target)


def set_device(target="auto", device_id=None):
    """Select the device with MindSpore's current API (``auto``: the installed build's device); a clear error if
    the build lacks it.

    Inside one process MindSpore fixes the device once kernels have run; asking again for the same
    device is then a no-op, asking for another one is an error."""
    import mindspore as ms

    auto = target is None or str(target).lower() == "auto"
    target = resolve_device(target)
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
        # e.g. a CPU-only wheel asked for Ascend
        raise FaceIdError(f"cannot use --device_target {target}: {msg} "
                          f"(install the MindSpore build for {target}, or pass --device_target CPU)") from None
    return target
