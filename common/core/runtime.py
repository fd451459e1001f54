"""Run set-up every entry point does before its work: device, graph mode, seed, the printed config."""
import os

from common.core.config import print_config


def set_graph_mode(enabled=True):
    import mindspore as ms

    ms.set_context(mode=ms.GRAPH_MODE if enabled else ms.PYNATIVE_MODE)


def seed_everything(seed):
    import mindspore as ms
    import numpy as np

    ms.set_seed(int(seed))
    np.random.seed(int(seed) % (2 ** 32))
    os.environ.setdefault("PYTHONHASHSEED", str(seed))


def prepare(cfg, title=None, seed=True):
    """Select the device (``--device_target`` auto|Ascend|GPU|CPU, ``--device_id``), graph mode (``--graph_mode
    false`` for PyNative), seed; print the config under ``title`` (None: don't). Returns the device name."""
    from common.core.env import set_device, set_ort_providers

    set_ort_providers(cfg.get("ort_providers"))  # checked before any work: a provider asked for must exist
    device = set_device(cfg.get("device_target", "auto"), cfg.get("device_id"))
    set_graph_mode(bool(cfg.get("graph_mode", True)))
    if seed:
        seed_everything(cfg.get("seed", 0))
    if title:
        print_config(cfg, title)
    return device
