"""Checkpoints: written atomically, the last K kept, full state for resume.

A training checkpoint holds the network, the optimizer state (momenta, global step)
and the position in the schedule (``meta_epoch``, ``meta_step``: the next step to run
within that epoch). It is written to a temporary name in the same folder
(``.tmp-<pid>-<name>``; MindSpore itself first writes ``.tmp-<pid>-<stem>.tmp``) and renamed,
so a killed run never leaves a truncated file under a real name. The temporary files a killed
writer leaves behind are removed by the next :class:`CheckpointManager` on the same folder and
prefix (those whose writer pid is no longer alive). ``--resume true`` takes the newest checkpoint
that loads (:meth:`CheckpointManager.latest_loadable`), naming each newer one it skips and why.
"""
import glob
import os
import re

import mindspore as ms
import numpy as np

from common.core.errors import FaceIdError
from common.core.paths import process_alive

META = ("meta_epoch", "meta_step", "meta_num_classes")
TMP = re.compile(r"^\.tmp-(\d+)-")


class CheckpointError(FaceIdError):
    pass


def _tmp_names(path):
    """The two temporary names a write of ``path`` uses: ours (renamed to ``path``) and MindSpore's own."""
    folder, base = os.path.split(os.path.abspath(path))
    ours = os.path.join(folder, f".tmp-{os.getpid()}-{base}")
    return ours, os.path.splitext(ours)[0] + ".tmp"


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def save_atomic(save_obj, path, meta=None):
    """``ms.save_checkpoint`` to ``path`` via a temporary file + rename; nothing is left behind on failure."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmps = _tmp_names(path)
    for t in tmps:
        _remove(t)
    try:
        ms.save_checkpoint(save_obj, tmps[0], append_dict=dict(meta or {}))
        os.replace(tmps[0], path)
    except (OSError, RuntimeError) as exc:
        for t in tmps:
            _remove(t)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).strip().splitlines()[0]
        raise CheckpointError(f"{path}: cannot write the checkpoint ({reason})") from None
    return path




def remove_stale_tmp(directory, prefix, printer=None):
    """Delete ``.tmp-<pid>-<prefix>-*`` files in ``directory`` whose writer ``pid`` is dead; returns their paths."""
    removed = []
    for path in sorted(glob.glob(os.path.join(glob.escape(directory), f".tmp-*-{glob.escape(prefix)}-*"))):
        m = TMP.match(os.path.basename(path))
        if not m or process_alive(int(m.group(1))) and int(m.group(1)) != os.getpid():
            continue
        try:
            size = os.path.getsize(path)
            os.remove(path)
        except OSError:
            continue
        removed.append(path)
        if printer is not None:
            printer(f"checkpoint: removed {os.path.basename(path)} ({size / 2 ** 20:.1f} MB), the temporary file "
                    f"of an interrupted write (process {m.group(1)} is gone)")
    return removed


class CheckpointManager:
    """``<dir>/<prefix>-e<epoch>-s<global step>.ckpt``; keeps the newest ``keep``.

    Created, it removes the temporary files of interrupted writes of this prefix (their writer is gone).
    """

    pattern = re.compile(r"-e(\d+)-s(\d+)\.ckpt$")

    def __init__(self, directory, prefix, keep=5, printer=None):
        self.dir, self.prefix, self.keep = directory, prefix, keep
        self.removed = remove_stale_tmp(directory, prefix, printer) if os.path.isdir(directory) else []

    def list(self):
        files = glob.glob(os.path.join(glob.escape(self.dir), f"{glob.escape(self.prefix)}-e*-s*.ckpt"))
        return sorted((f for f in files if self.pattern.search(f)),
                      key=lambda f: int(self.pattern.search(f).group(2)))

    def latest(self):
        files = self.list()
        return files[-1] if files else None

    def writes(self, rank):
        """Whether ``rank`` writes checkpoints (rank 0 only; every rank with a sharded head)."""
        return rank == 0

    def load(self, train_net, path, params=None):
        """Resume: ``load_into`` (``params``: the file already read, or None)."""
        return load_into(train_net, path, params)

    def latest_loadable(self, printer=print):
        """(path, params) of the newest checkpoint that reads and holds the resume meta, or (None, None).

        Each newer file that does not (truncated after a full disk, hand-edited...) is named with the reason.
        """
        for path in reversed(self.list()):
            try:
                params = read(path)
            except CheckpointError as exc:
                printer(f"resume: skipped {path}: {_reason(exc, path)}")
                continue
            lacking = [k for k in META[:2] if k not in params]
            if lacking:
                printer(f"resume: skipped {path}: lacks {', '.join(lacking)} (truncated, or not a training "
                        f"checkpoint of this loop)")
                continue
            return path, params
        return None, None

    def save(self, train_net, epoch, step_in_epoch, global_step, num_classes):
        path = os.path.join(self.dir, f"{self.prefix}-e{epoch}-s{global_step}.ckpt")
        save_atomic(train_net, path, {"meta_epoch": int(epoch), "meta_step": int(step_in_epoch),
                                      "meta_num_classes": int(num_classes)})
        self.prune(path)
        return path

    def prune(self, last_good):
        """Keep the newest ``keep``; never the checkpoint just written (the one the loop's messages call the last
        good one), even when files of a longer earlier run with higher step numbers lie in the folder."""
        files = [f for f in self.list() if os.path.abspath(f) != os.path.abspath(last_good)]
        for old in files[:max(0, len(files) - (self.keep - 1))] if self.keep > 0 else []:
            _remove(old)


def _reason(exc, path):
    msg = str(exc)
    return msg[len(path) + 2:] if msg.startswith(path + ": ") else msg


def read(path):
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        params = ms.load_checkpoint(path)
    except (ValueError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"{path}: not a readable MindSpore checkpoint "
                              f"({(str(exc).strip().splitlines() or [type(exc).__name__])[0]})") from None
    return params


def _value(p):
    return p.asnumpy() if hasattr(p, "asnumpy") else np.asarray(p)


def load_into(net, path, params=None, strict=True, skip=("learning_rate",)):
    """Load a checkpoint into ``net`` after checking every shape; a clear error on mismatch.

    Returns the checkpoint's meta values (epoch, step, num_classes) as ints where present.
    Parameters of ``net`` missing from the file are an error when ``strict`` (except the dynamic loss scale's
    state, ``loss_scale*``: a run resumed with another loss-scale setting starts its scale afresh). Names
    containing one of ``skip`` (the per-step learning-rate arrays, rebuilt from the config) are neither checked nor loaded.
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
        raise CheckpointError(f"{path}: does not fit this network{hint}: " + "; ".join(bad[:3]))
    missing = [n for n in own if n not in params and not n.startswith("loss_scale")]
    if strict and missing:
        raise CheckpointError(f"{path}: lacks {len(missing)} parameter(s) of this network, "
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
