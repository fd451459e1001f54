"""Checkpoints: written atomically, the last K kept, full state for resume.

A training checkpoint holds the network, the optimizer state (momenta, global step)
and the position in the schedule (``meta_epoch``, ``meta_step``: the next step to run
within that epoch). It is written to a temporary name in the same folder and renamed,
so a killed run never leaves a truncated file under a real name.
"""
import glob
import os
import re

import mindspore as ms
import numpy as np

META = ("meta_epoch", "meta_step", "meta_num_classes")


class CheckpointError(SystemExit):
    pass


def save_atomic(save_obj, path, meta=None):
    """``ms.save_checkpoint`` to ``path`` via a temporary file + rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{os.path.basename(path)}")
    if os.path.exists(tmp):
        os.remove(tmp)
    ms.save_checkpoint(save_obj, tmp, append_dict=dict(meta or {}))
    os.replace(tmp, path)
    return path


class CheckpointManager:
    """``<dir>/<prefix>-e<epoch>-s<global step>.ckpt``; keeps the newest ``keep``."""

    pattern = re.compile(r"-e(\d+)-s(\d+)\.ckpt$")

    def __init__(self, directory, prefix, keep=5):
        self.dir, self.prefix, self.keep = directory, prefix, keep

    def list(self):
        files = glob.glob(os.path.join(self.dir, f"{self.prefix}-e*-s*.ckpt"))
        return sorted((f for f in files if self.pattern.search(f)),
                      key=lambda f: int(self.pattern.search(f).group(2)))

    def latest(self):
        files = self.list()
        return files[-1] if files else None

    def save(self, train_net, epoch, step_in_epoch, global_step, num_classes):
        path = os.path.join(self.dir, f"{self.prefix}-e{epoch}-s{global_step}.ckpt")
        save_atomic(train_net, path, {"meta_epoch": int(epoch), "meta_step": int(step_in_epoch),
                                      "meta_num_classes": int(num_classes)})
        for old in self.list()[:-self.keep] if self.keep > 0 else []:
            os.remove(old)
        return path


def read(path):
    if not os.path.isfile(path):
        raise CheckpointError(f"error: checkpoint not found: {path}")
    try:
        return ms.load_checkpoint(path)
    except (ValueError, RuntimeError) as exc:
        raise CheckpointError(f"error: {path}: not a readable MindSpore checkpoint "
                              f"({str(exc).strip().splitlines()[0]})") from None


def _value(p):
    return p.asnumpy() if hasattr(p, "asnumpy") else np.asarray(p)


def load_into(net, path, params=None, strict=True, skip=("learning_rate",)):
    """Load a checkpoint into ``net`` after checking every shape; a clear error on mismatch.

    Returns the checkpoint's meta values (epoch, step, num_classes) as ints where present.
    Parameters of ``net`` missing from the file are an error when ``strict``. Names containing one of
    ``skip`` (the per-step learning-rate arrays, rebuilt from the config) are neither checked nor loaded.
    """
    params = dict(params) if params is not None else read(path)
    meta = {k: int(_value(params.pop(k))) for k in META if k in params}
    own = {p.name: p for p in net.get_parameters() if not any(s in p.name for s in skip)}
    bad = []
    for name, p in own.items():
        if name in params and tuple(params[name].shape) != tuple(p.shape):
            bad.append(f"{name}: file {tuple(params[name].shape)} vs network {tuple(p.shape)}")
    if bad:
        hint = ""
        if "meta_num_classes" in meta:
            hint = f" (the checkpoint was trained with {meta['meta_num_classes']} classes)"
        raise CheckpointError(f"error: {path}: does not fit this network{hint}: " + "; ".join(bad[:3]))
    missing = [n for n in own if n not in params]
    if strict and missing:
        raise CheckpointError(f"error: {path}: lacks {len(missing)} parameter(s) of this network, "
                              f"e.g. {', '.join(missing[:3])}")
    load = {n: v for n, v in params.items() if n in own}
    ms.load_param_into_net(net, load, strict_load=False)
    return meta


def load_weights(net, path, strip_prefixes=("backbone.",), strict=True):
    """Load a (training or weights-only) checkpoint into an inference network such as a backbone.

    Names in the file may carry one of ``strip_prefixes`` (a classifier checkpoint holds
    ``backbone.*``); optimizer state and classifier weights are ignored.
    """
    raw = read(path)
    own = {p.name for p in net.get_parameters()}
    params = {}
    for name, value in raw.items():
        if name in META:
            params[name] = value
            continue
        for pre in ("",) + tuple(strip_prefixes):
            if name.startswith(pre) and name[len(pre):] in own:
                params[name[len(pre):]] = value
                break
    return load_into(net, path, params, strict=strict)
