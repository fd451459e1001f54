"""The training loop's step outputs kept on the device, and the sunk step of GPU / Ascend.

``DeviceSteps`` holds each step's loss (and, with a dynamic loss scale, its overflow flag and scale) as device
tensors; ``fetch()`` brings all of them to the host in ONE transfer (stacked on the device first), so a run
syncs the host once per ``log_every`` steps and at checkpoint / verification boundaries, not once per step.
``syncs`` counts those transfers (tests/train/test_host_syncs.py counts them independently).

``sink_plan`` decides whether an epoch runs sunk (``ms.data_sink``, ``sink_size = log_every``: the device pulls
``log_every`` batches from the dataset queue per call, no Python between the steps): on GPU / Ascend in graph
mode (``sink`` option; MindSpore refuses data sinking on the CPU), when every boundary of the epoch (log line,
checkpoint, verification, max_steps, epoch end) falls on a multiple of ``log_every``; otherwise the plain loop.
"""
import math

import numpy as np


class DeviceSteps:
    """Outputs of the steps since the last ``fetch``, on the device."""

    def __init__(self):
        self.items = []  # (info, loss, overflow flag or None, scale or None)
        self.syncs = 0

    def add(self, out, info):
        """``out``: a train cell's output (the loss, or (loss, overflow, scale)); ``info``: anything (step, lr...)."""
        if isinstance(out, (tuple, list)):
            loss = out[0]
            flag = out[1] if len(out) > 1 else None
            scale = out[2] if len(out) > 2 else None
        else:
            loss, flag, scale = out, None, None
        self.items.append((info, loss, flag, scale))

    def __len__(self):
        return len(self.items)

    def fetch(self):
        """-> [(info, loss float, overflowed bool, scale float or nan)] for every pending step; one host transfer."""
        if not self.items:
            return []
        from mindspore import dtype as mstype
        from mindspore import ops

        n = len(self.items)
        parts = [loss.reshape(()).astype(mstype.float32) for _, loss, _, _ in self.items]
        flagged = [i for i, it in enumerate(self.items) if it[2] is not None]
        parts += [self.items[i][2].reshape(()).astype(mstype.float32) for i in flagged]
        parts += [self.items[i][3].reshape(()).astype(mstype.float32) for i in flagged if self.items[i][3] is not None]
        values = ops.stack(parts).asnumpy() if len(parts) > 1 else parts[0].asnumpy().reshape(1)
        self.syncs += 1
        flags = np.zeros(n, bool)
        scales = np.full(n, math.nan)
        flags[flagged] = values[n:n + len(flagged)] > 0.5
        with_scale = [i for i in flagged if self.items[i][3] is not None]
        scales[with_scale] = values[n + len(flagged):n + len(flagged) + len(with_scale)]
        out = [(info, float(values[k]), bool(flags[k]), float(scales[k]))
               for k, (info, _, _, _) in enumerate(self.items)]
        self.items = []
        return out


def boundaries(steps_per_epoch, total, log_every=10, save_every=0, verify_every=0, max_steps=0):
    """The global-step test of ``fit``'s fetch points: log line, checkpoint, verification, max_steps, the end
    (the keywords: :meth:`common.train.plan.TrainPlan.every`; 0 = none)."""
    every = max(1, int(log_every or 10))

    def due(global_step, step_in_epoch):
        return (global_step % every == 0 or global_step == total or step_in_epoch >= steps_per_epoch
                or (save_every and global_step % save_every == 0)
                or (verify_every and global_step % verify_every == 0)
                or (max_steps and global_step >= max_steps))

    return due


def sink_wanted(device, sink=None, graph_mode=True):
    """``sink`` option: True / False, or None: on GPU and Ascend in graph mode (never on the CPU)."""
    if device not in ("GPU", "Ascend") or not graph_mode:
        return False
    return True if sink is None else bool(sink)


def sink_size(steps_per_epoch, first_global, steps_left, log_every=10, save_every=0, verify_every=0, max_steps=0):
    """``log_every`` if this epoch's steps (``steps_left`` from global step ``first_global``) can run in chunks of
    it with every boundary on a chunk end, else None (the plain loop)."""
    every = max(1, int(log_every or 10))
    if every <= 1 or steps_left % every or first_global % every or steps_per_epoch % every:
        return None
    if (save_every and save_every % every) or (verify_every and verify_every % every) or \
            (max_steps and max_steps % every):
        return None
    return every


def sunk_step(train_net, dataset, size, device):
    """``ms.data_sink`` of ``train_net`` over ``dataset``: each call runs ``size`` steps on the device and returns
    the last step's output (Ascend: jit_level O2, the whole graph sunk)."""
    import mindspore as ms

    jit = ms.JitConfig(jit_level="O2") if device == "Ascend" else None
    return ms.data_sink(train_net, dataset, sink_size=int(size), jit_config=jit)
