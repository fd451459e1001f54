"""Result files: metrics JSON (atomic) and a ROC PNG beside it (``<stem>_roc.png``)."""
import json
import math
import os

import numpy as np

from common.protocols import ProtocolError
from common.core.fileio import atomic_write
FAR_MIN = 1e-5


def _plain(obj):
    """JSON-ready copy: numpy scalars/arrays to Python, non-finite floats to None."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def plot_roc(png_path, curves, title="ROC"):
    """Plot ``{label: (far, tpr)}`` with log FAR from 1e-5 to 1 and TPR in [0, 1]; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=100)
    for label, (far, tpr) in curves.items():
        far, tpr = np.asarray(far, np.float64), np.asarray(tpr, np.float64)
        keep = far >= FAR_MIN
        ax.plot(far[keep], tpr[keep], label=label)
    ax.set_xscale("log")
    ax.set_xlim(FAR_MIN, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    try:
        atomic_write(png_path, lambda f: fig.savefig(f, format="png"))
    finally:
        plt.close(fig)


def result_paths(out_json):
    """(json_path, png_path) that :func:`write_result` writes for ``out_json``."""
    return out_json, os.path.splitext(out_json)[0] + "_roc.png"


def write_result(out_json, metrics, inputs=()):
    """Write ``metrics`` as JSON and ``<stem>_roc.png`` from ``metrics['roc']`` ({label: {far, tpr}}).

    Both files are written atomically (temporary file in the same folder, then ``os.replace``); neither may
    be one of ``inputs`` (paths, or lists of paths), checked before anything is written.
    Returns (json_path, png_path). Non-finite numbers are written as null.
    """
    from common.core.paths import check_output

    if not metrics.get("roc"):
        raise ProtocolError(f"{out_json}: metrics need a 'roc' entry {{label: {{'far': [...], 'tpr': [...]}}}}")
    out_json, png = result_paths(out_json)
    for path in (out_json, png):
        check_output(path, *inputs, what="result")
    curves = {k: (v["far"], v["tpr"]) for k, v in metrics["roc"].items()}
    plot_roc(png, curves, title=str(metrics.get("protocol", "ROC")).upper())
    text = json.dumps(_plain(metrics), indent=1, allow_nan=False).encode("utf-8")
    atomic_write(out_json, lambda f: f.write(text))
    return out_json, png
