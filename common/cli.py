"""What every entry point does before its work: device, graph mode, seed, the printed config."""
from common.config import print_config


def prepare(cfg, title=None, seed=True):
    """Select the device (``--device_target``, ``--device_id``), graph mode (``--graph_mode false`` for
    PyNative), seed; print the config under ``title`` (None: don't). Returns the device name."""
    from common.env import set_device
    from common.train.loop import seed_everything, set_graph_mode

    device = set_device(cfg.get("device_target", "auto"), cfg.get("device_id"))
    set_graph_mode(bool(cfg.get("graph_mode", True)))
    if seed:
        seed_everything(cfg.get("seed", 0))
    if title:
        print_config(cfg, title)
    return device


def require(cfg, key, what, metavar=""):
    """A clear error when a required option is missing: ``error: --KEY METAVAR is required (WHAT)``."""
    if not cfg.get(key):
        raise SystemExit(f"error: --{key}{' ' + metavar if metavar else ''} is required ({what})")
    return cfg[key]
