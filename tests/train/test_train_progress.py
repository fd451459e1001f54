"""Progress lines under a fake clock: img/s excludes periodic work, ETA includes it, 'data x%' is the data wait.

Expected numbers are computed by hand from the scripted timings in each test's docstring.
"""
import re
import types

import mindspore as ms
import numpy as np

from common.train import loop, plan, progress
from common.train.progress import Progress, fmt_time


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def _fields(line):
    m = re.search(r"\[(\d+)/(\d+)\] .* ([\d.]+) img/s data (\d+)% eta (\S+)$", line)
    assert m, line
    return int(m.group(1)), float(m.group(3)), int(m.group(4)), m.group(5)


def test_progress_numbers_by_hand():
    """batch 8, every 5 steps, 20 steps. Each step: 0.5 s waiting for data + 1.5 s compute. After step 5 a
    checkpoint + verification takes 30 s. Step 5 line: window 10 s -> 40 steps*img / 10 s = 4.0 img/s, data 25 %,
    eta 15 * 2 s = 30 s. Step 10 line: window 40 s minus 30 s paused = 10 s -> 4.0 img/s (not 40/40 = 1.0),
    data 25 %, eta 10 * (2 s + 30 s / 10 steps) = 50 s."""
    clock, lines = FakeClock(), []
    p = Progress(20, 8, every=5, printer=lines.append, clock=clock)
    for step in range(1, 11):
        p.data_start()
        clock.advance(0.5)
        p.data_end()
        clock.advance(1.5)
        p.update(step, 0, 1, step, 20, 1.0, 0.1)
        if step == 5:
            p.pause()
            clock.advance(30.0)
            p.resume()
    assert len(lines) == 2
    assert _fields(lines[0]) == (5, 4.0, 25, "00:30")
    assert _fields(lines[1]) == (10, 4.0, 25, "00:50")
    assert fmt_time(3725) == "1:02:05"


def test_loop_reports_training_rate_after_verification(monkeypatch, tmp_path):
    """The shared loop under a fake clock: 12 steps of batch 4 (one epoch), log every 4. Each batch takes 2 s to
    arrive and the step 8 s; a verification (on_step_end) at steps 4 and 8 takes 100 s.
    Step 4: 16 img / 40 s = 0.4 img/s, data 20 %, eta 8 * 10 s = 80 s.
    Step 8: window 140 s - 100 s = 40 s -> 0.4 img/s (the old rate was 16 / 140 = 0.11), data 20 %,
            eta 4 * (10 s + 100 s / 8) = 90 s.
    Step 12: 0.4 img/s, data 20 %, eta 0."""
    from mindspore import nn

    from common.core.config import Config

    clock = FakeClock()
    monkeypatch.setattr(progress, "time", types.SimpleNamespace(perf_counter=clock))
    real_train_network = loop.amp.train_network

    class Timed(nn.Cell):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def __call__(self, images, labels):
            clock.advance(8.0)
            return self.net(images, labels)

    def timed_train_network(*args, **kw):
        return Timed(real_train_network(*args, **kw))

    monkeypatch.setattr(loop.amp, "train_network", timed_train_network)
    rng = np.random.default_rng(0)
    batches = [(ms.Tensor(rng.standard_normal((4, 6)).astype(np.float32)),
                ms.Tensor(rng.integers(0, 2, 4).astype(np.int32))) for _ in range(12)]

    def slow_batches():
        for b in batches:
            clock.advance(2.0)
            yield b

    class Data:
        def create_tuple_iterator(self):
            return slow_batches()

    def verification(global_step, epoch, train_net):
        if global_step % 4 == 0:
            clock.advance(100.0)

    net = nn.Dense(6, 2)
    cfg = Config(device_target="CPU", optimizer="sgd", weight_decay=0.0, momentum=0.9, lr=0.01, lr_schedule="constant",
                 epochs=1, batch_size=4, ckpt_dir=str(tmp_path), log_every=4, save_every_steps=0, keep_ckpt=1)
    lines = []
    loop.fit(plan.resolve(cfg, 12),
             nn.WithLossCell(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")),
             net.trainable_params(), lambda epoch, skip: (Data(), 12), 2, printer=lines.append,
             on_step_end=verification)
    got = [_fields(line) for line in lines if "img/s" in line]
    assert got == [(4, 0.4, 20, "01:20"), (8, 0.4, 20, "01:30"), (12, 0.4, 20, "00:00")]
