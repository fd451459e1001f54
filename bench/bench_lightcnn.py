"""LightCNN-9 speed: MindSpore (graph mode) vs the same network in PyTorch (eager), same process, CPU.

    python bench/bench_lightcnn.py [--repeats 5] [--threads 2] [--size 128]

Prints the median time of inference at batch 1 and 32 and of one SGD train step at batch 32, and the
MindSpore / PyTorch ratio (< 1: MindSpore faster). PyTorch is optional (bench-only): without it only the
MindSpore column is printed. Without ONEDNN_MAX_CPU_ISA=AVX2 on AVX-512 CPUs MindSpore's numbers are
40-240x worse; `--no_isa_cap` shows that.
"""
import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
if "--no_isa_cap" not in sys.argv:
    import common.core.env  # noqa: F401

import numpy as np  # noqa: E402


def median_time(fn, repeats):
    fn()  # warm-up / compile
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def mindspore_bench(size, repeats):
    import mindspore as ms
    from mindspore import nn

    from common.nets import BACKBONES
    from lightcnn.src.lightcnn import LightCNNClassifier

    ms.set_device("CPU")
    ms.set_context(mode=ms.GRAPH_MODE)
    net = BACKBONES.create("lightcnn9", input_size=(1, size, size))
    net.set_train(False)
    out = {}
    for b in (1, 32):
        x = ms.Tensor(np.random.rand(b, 1, size, size).astype(np.float32))
        out[f"inference b{b}"] = median_time(lambda: net(x).asnumpy(), repeats)
    clf = LightCNNClassifier(BACKBONES.create("lightcnn9", input_size=(1, size, size)), 1000, dropout=0.0)
    step = nn.TrainOneStepCell(nn.WithLossCell(clf, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")),
                               nn.Momentum(clf.trainable_params(), 0.01, 0.9))
    step.set_train()
    x = ms.Tensor(np.random.rand(32, 1, size, size).astype(np.float32))
    y = ms.Tensor(np.random.randint(0, 1000, 32).astype(np.int32))
    out["train step b32"] = median_time(lambda: step(x, y).asnumpy(), repeats)
    return out


def torch_bench(size, repeats, threads):
    try:
        import torch
    except ImportError:
        return None
    from torch import nn

    torch.set_num_threads(threads)

    class MFM(nn.Module):
        def __init__(self, i, o, k=3, s=1, p=1, dense=False):
            super().__init__()
            self.o = o
            self.f = nn.Linear(i, 2 * o) if dense else nn.Conv2d(i, 2 * o, k, s, p)

        def forward(self, x):
            x = self.f(x)
            return torch.max(x[:, :self.o], x[:, self.o:])

    def group(i, o):
        return nn.Sequential(MFM(i, i, 1, 1, 0), MFM(i, o))

    net = nn.Sequential(MFM(1, 48, 5, 1, 2), nn.MaxPool2d(2, 2, ceil_mode=True), group(48, 96),
                        nn.MaxPool2d(2, 2, ceil_mode=True), group(96, 192), nn.MaxPool2d(2, 2, ceil_mode=True),
                        group(192, 128), group(128, 128), nn.MaxPool2d(2, 2, ceil_mode=True), nn.Flatten(),
                        MFM(128 * (size // 16) ** 2, 256, dense=True))
    net.eval()
    out = {}
    with torch.no_grad():
        for b in (1, 32):
            x = torch.rand(b, 1, size, size)
            out[f"inference b{b}"] = median_time(lambda: net(x), repeats)
    clf = nn.Sequential(net, nn.Linear(256, 1000))
    clf.train()
    opt = torch.optim.SGD(clf.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.rand(32, 1, size, size), torch.randint(0, 1000, (32,))

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(clf(x), y).backward()
        opt.step()

    out["train step b32"] = median_time(step, repeats)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--no_isa_cap", action="store_true", help="do not set ONEDNN_MAX_CPU_ISA=AVX2")
    a = ap.parse_args()
    print(f"LightCNN-9 {a.size}x{a.size}, CPU, {a.threads} threads, ONEDNN_MAX_CPU_ISA="
          f"{os.environ.get('ONEDNN_MAX_CPU_ISA', '(unset)')}, median of {a.repeats}")
    ms_t = mindspore_bench(a.size, a.repeats)
    pt_t = torch_bench(a.size, a.repeats, a.threads)
    print(f"{'work':<18}{'MindSpore s':>13}{'PyTorch s':>12}{'MS/PT':>8}")
    for k, v in ms_t.items():
        if pt_t:
            print(f"{k:<18}{v:>13.4f}{pt_t[k]:>12.4f}{v / pt_t[k]:>8.2f}")
        else:
            print(f"{k:<18}{v:>13.4f}{'(no torch)':>12}{'':>8}")


if __name__ == "__main__":
    main()
