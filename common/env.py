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


def set_device(target="CPU", device_id=None):
    """Select the device with MindSpore's current API; a clear error if the build lacks it.

    Inside one process MindSpore fixes the device once kernels have run; asking again for the same
    device is then a no-op, asking for another one is an error."""
    import mindspore as ms

    target = {"cpu": "CPU", "gpu": "GPU", "ascend": "Ascend"}.get(str(target).lower(), target)
    try:
        if device_id is None:
            ms.set_device(target)
        else:
            ms.set_device(target, int(device_id))
    except RuntimeError as exc:
        msg = str(exc).strip().splitlines()[0]
        current = ms.get_context("device_target")
        if ("initialized" in msg or "can not be modified" in msg) and current == target:
            return target
        if "initialized" in msg or "can not be modified" in msg:
            raise SystemExit(f"error: cannot use --device_target {target}: this process already runs on {current}")
        # e.g. a CPU-only wheel asked for Ascend
        raise SystemExit(f"error: cannot use --device_target {target}: {msg} "
                         f"(install the MindSpore build for {target}, or pass --device_target CPU)")
    return target
