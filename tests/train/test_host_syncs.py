"""The training loop keeps losses on the device (issue 23, item 2): host syncs per run <= steps / log_every +
checkpoints, counted independently (every host read of a MindSpore tensor made from the loop's code); a NaN found
at a boundary stops training before that boundary's checkpoint, so the last good one stays the newest; a step the
dynamic loss scale skipped is counted on the progress line and training goes on."""
import os
import sys

import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor, nn

from common.core.config import Config
from common.train import loop
from common.train import plan as train_plan
from common.train.checkpoint import CheckpointManager

LOOP_FILES = tuple(os.path.join("common", "train", f) for f in ("loop.py", "steps.py", "progress.py"))
READS = ("asnumpy", "item", "tolist", "_item", "__float__", "__int__", "__bool__", "__index__", "__array__",
         "__repr__", "__str__")


class SyncCounter:
    """Counts host reads of tensors (the methods in READS) made by the loop's code (the first frame outside
    MindSpore is in loop.py, steps.py or progress.py), once ``active`` (from the end of the first step: the graph
    compile reads parameters once) and not inside a checkpoint write (those are the checkpoints' own cost)."""

    def __init__(self, monkeypatch):
        self.count, self.depth, self.active = 0, 0, False
        for name in READS:
            original = getattr(Tensor, name, None)
            if original is not None:
                monkeypatch.setattr(Tensor, name, self._wrap(original))

    def _wrap(self, original):
        counter = self

        def read(tensor, *args, **kwargs):
            outer = counter.depth == 0
            counter.depth += 1
            try:
                if outer and counter.active:
                    files = []
                    frame = sys._getframe(1)
                    while frame is not None:
                        files.append(frame.f_code.co_filename)
                        frame = frame.f_back
                    mine = [f for f in files if os.sep + "mindspore" + os.sep not in f]
                    if mine and mine[0].endswith(LOOP_FILES) and \
                            not any(f.endswith(os.path.join("common", "train", "checkpoint.py")) for f in files):
                        counter.count += 1
                return original(tensor, *args, **kwargs)
            finally:
                counter.depth -= 1

        return read


class CountingManager(CheckpointManager):
    def __init__(self, *args):
        super().__init__(*args)
        self.saved = []

    def save(self, train_net, epoch, step_in_epoch, global_step, num_classes):
        path = super().save(train_net, epoch, step_in_epoch, global_step, num_classes)
        self.saved.append(global_step)
        return path


class Batches:
    """``steps`` batches of a linear regression; ``bad`` steps (1-based, this epoch) carry inf inputs."""

    def __init__(self, steps, skip=0, bad=(), seed=0):
        self.steps, self.skip, self.bad, self.seed = steps, skip, set(bad), seed

    def create_tuple_iterator(self):
        for t in range(self.skip, self.steps):
            rng = np.random.default_rng([self.seed, t])
            x = rng.normal(size=(4, 3)).astype(np.float32)
            if t + 1 in self.bad:
                x[0, 0] = np.inf
            yield Tensor(x), Tensor(rng.normal(size=(4, 2)).astype(np.float32))


def _cfg(tmp_path, **over):
    cfg = Config(device_target="CPU", amp_level="O0", optimizer="sgd", lr=0.05, lr_schedule="constant",
                 warmup_epochs=0, epochs=1, weight_decay=0.0, momentum=0.0, nesterov=False, param_groups=[],
                 ckpt_dir=str(tmp_path / "ckpt"), ckpt_prefix="t", keep_ckpt=50, resume=None, log_every=5,
                 save_every_steps=0, max_steps=None, batch_size=4)
    cfg.update(over)
    return cfg


def _fit(cfg, steps, bad=(), lines=None, counter=None):
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_seed(0)
    net = nn.Dense(3, 2)
    manager = CountingManager(cfg.ckpt_dir, "t", 50, None)
    printer = (lines.append if lines is not None else (lambda line: None))

    def start_counting(step, epoch, train_net):
        if counter is not None:
            counter.active = True

    res = loop.fit(train_plan.resolve(cfg, steps), nn.WithLossCell(net, nn.MSELoss()), net.trainable_params(),
                   lambda epoch, skip: (Batches(steps, skip, bad), steps - skip), 2, printer=printer,
                   manager=manager, on_step_end=start_counting)
    return res, manager, net


@pytest.mark.parametrize("log_every, save_every", [(5, 0), (10, 5), (4, 6)])
def test_host_syncs_per_run_at_most_steps_over_log_every_plus_checkpoints(tmp_path, monkeypatch, log_every,
                                                                          save_every):
    monkeypatch.delenv("FACEID_DEBUG_DIR", raising=False)
    steps = 20
    counter = SyncCounter(monkeypatch)
    res, manager, _ = _fit(_cfg(tmp_path, log_every=log_every, save_every_steps=save_every), steps,
                           counter=counter)
    assert res["global_step"] == steps
    assert counter.count <= steps / log_every + len(manager.saved), (counter.count, manager.saved)
    assert counter.count >= steps // log_every  # the counter sees the loop's reads (it can fail)
    assert res["host_syncs"] == counter.count


def test_the_counter_catches_a_per_step_read(tmp_path, monkeypatch):
    """The same count with a loop that reads every step's loss (as before issue 23) exceeds the bound."""
    monkeypatch.delenv("FACEID_DEBUG_DIR", raising=False)
    counter = SyncCounter(monkeypatch)
    real = loop.steps_mod.boundaries
    monkeypatch.setattr(loop.steps_mod, "boundaries", lambda spe, total, **every: (lambda g, s: True))
    _fit(_cfg(tmp_path, log_every=5), 20, counter=counter)
    monkeypatch.setattr(loop.steps_mod, "boundaries", real)
    assert counter.count == 19 > 20 / 5  # steps 2..20 (counting starts after step 1)


def test_nan_at_a_boundary_keeps_the_last_good_checkpoint_newest(tmp_path):
    cfg = _cfg(tmp_path, log_every=5, save_every_steps=5)
    with pytest.raises(loop.NonFiniteLoss) as exc:
        _fit(cfg, 20, bad=(7,))
    msg = str(exc.value)
    assert "step 7" in msg and "t-e0-s5.ckpt" in msg, msg
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["t-e0-s5.ckpt"]  # step 10's state (NaN weights) not saved


def test_overflow_is_skipped_counted_and_training_goes_on(tmp_path):
    """Dynamic loss scale through fit (fp16 O2 on the CPU): the inf batch's update is skipped (weights after step
    3 = after step 2), the scale halves, the line says 'overflow 1', and the run finishes."""
    cfg = _cfg(tmp_path, amp_level="O2", loss_scale="dynamic", loss_scale_window=1000, log_every=5)
    seen, lines = {}, []

    def on_step(step, epoch, train_net):
        seen[step] = (train_net.network.get_parameters().__next__().asnumpy().copy(), float(train_net.scale.asnumpy()))

    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_seed(0)
    net = nn.Dense(3, 2)
    res = loop.fit(train_plan.resolve(cfg, 10), nn.WithLossCell(net, nn.MSELoss()), net.trainable_params(),
                   lambda epoch, skip: (Batches(10, skip, (3,)), 10 - skip), 2, printer=lines.append,
                   manager=CountingManager(cfg.ckpt_dir, "t", 50, None), on_step_end=on_step)
    assert res["global_step"] == 10 and np.isfinite(res["loss"])
    np.testing.assert_array_equal(seen[3][0], seen[2][0])
    assert not np.array_equal(seen[4][0], seen[3][0])
    assert float(seen[2][1]) == 2.0 ** 16 and float(seen[3][1]) == 2.0 ** 15
    progress = [line for line in lines if "] loss " in line]
    assert "overflow 1" in progress[0] and "overflow" not in progress[1], progress


def test_sink_plan():
    from common.train import steps

    every = dict(log_every=5, save_every=10)  # (the plan's boundary values: common.train.plan.TrainPlan.every)
    assert steps.sink_wanted("CPU") is False and steps.sink_wanted("GPU") is True
    assert steps.sink_wanted("Ascend", sink=False) is False
    assert steps.sink_wanted("GPU", graph_mode=False) is False
    assert steps.sink_size(20, 0, 20, **every) == 5
    assert steps.sink_size(20, 5, 15, **every) == 5  # resumed at step 5
    assert steps.sink_size(20, 3, 17, **every) is None  # resumed off the grid: the plain loop
    assert steps.sink_size(20, 0, 20, **dict(every, save_every=7)) is None
    assert steps.sink_size(20, 0, 20, **every, max_steps=12) is None
    assert steps.sink_size(22, 0, 22, **every) is None  # epoch not a multiple of log_every


def test_sunk_epochs_through_the_loop(tmp_path, monkeypatch):
    """device_target GPU (the loop's view; the context stays CPU): the epoch runs in calls of log_every steps via
    steps.sunk_step, here replaced by an emulation of ms.data_sink (pull ``size`` batches, run them, return the
    last output); checkpoints on the chunk ends, one host read per chunk, one progress line per chunk."""
    from common.train import steps

    calls = []

    def fake_sink(train_net, data, size, device):
        it = iter(data.create_tuple_iterator())
        calls.append((size, device))

        def run():
            out = None
            for _ in range(size):
                out = train_net(*next(it))
            return out

        return run

    monkeypatch.setattr(steps, "sunk_step", fake_sink)
    monkeypatch.delenv("FACEID_DEBUG_DIR", raising=False)
    lines = []
    cfg = _cfg(tmp_path, device_target="GPU", log_every=5, save_every_steps=10, epochs=2)
    res, manager, _ = _fit(cfg, 20, lines=lines)
    assert calls == [(5, "GPU"), (5, "GPU")]  # one sunk function per epoch
    assert res["global_step"] == 40 and np.isfinite(res["loss"])
    assert manager.saved == [10, 20, 30, 40]
    progress = [line for line in lines if "] loss " in line]
    assert [line.split("[")[1].split("/")[0] for line in progress] == [str(5 * k) for k in range(1, 9)]
    assert res["host_syncs"] == 8
