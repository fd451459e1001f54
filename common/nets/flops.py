"""Parameter and multiply-accumulate counts of a Cell; ``python -m common.nets.flops NAME...`` prints them.

Parameters: every Parameter (trainable or frozen: weights, biases, BN gamma/beta, PReLU alpha)
except BatchNorm moving statistics. MACs: weight MACs of ``nn.Conv2d`` and ``nn.Dense`` for one
sample, from output shapes seen by forward hooks during one PyNative run on a zero input
(conv: H_out*W_out*C_out * C_in/groups*kh*kw; dense: in*out). Activations, BN, adds are not counted.
"""
import argparse
import time

import common.core.env  # noqa: E402,F401  (before mindspore)

import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402
from mindspore import nn  # noqa: E402
from common.core.env import set_device  # noqa: E402
from common.core.errors import FaceIdError

MOVING_STATS = ("moving_mean", "moving_variance")


def count_params(net):
    """Number of parameter values in ``net`` excluding BatchNorm moving mean/variance."""
    return sum(int(np.prod(p.shape)) for p in net.get_parameters()
               if not p.name.endswith(MOVING_STATS))


def _layer_macs(cell, output):
    if isinstance(cell, nn.Conv2d):
        w = cell.weight.shape  # (C_out, C_in/groups, kh, kw)
        return int(np.prod(output.shape[1:])) * int(w[1] * w[2] * w[3])
    return int(cell.in_channels) * int(cell.out_channels)


def count_macs(net, input_size=None):
    """Conv2d/Dense weight MACs of one forward pass of a (1, *input_size) zero input (eval mode)."""
    input_size = tuple(input_size or net.input_size)
    total = [0]

    def hook(cell, _args, output):
        total[0] += _layer_macs(cell, output)

    handles = [c.register_forward_hook(hook) for _, c in net.cells_and_names()
               if isinstance(c, (nn.Conv2d, nn.Dense))]
    mode, training = ms.get_context("mode"), net.training
    try:
        ms.set_context(mode=ms.PYNATIVE_MODE)  # hooks only run in PyNative
        net.set_train(False)
        net(ms.Tensor(np.zeros((1,) + input_size, np.float32)))
    finally:
        for h in handles:
            h.remove()
        net.set_train(training)
        ms.set_context(mode=mode)
    return total[0]


def forward_ms(net, input_size=None, repeats=5):
    """Median wall time (ms) of a batch-1 eval forward in GRAPH mode, after one compile/warm-up call."""
    input_size = tuple(input_size or net.input_size)
    x = ms.Tensor(np.random.default_rng(0).standard_normal((1,) + input_size).astype(np.float32))
    mode, training = ms.get_context("mode"), net.training
    try:
        ms.set_context(mode=ms.GRAPH_MODE)
        net.set_train(False)
        net(x).asnumpy()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            net(x).asnumpy()
            times.append(time.perf_counter() - t0)
    finally:
        net.set_train(training)
        ms.set_context(mode=mode)
    return 1000.0 * float(np.median(times))


def main(argv=None):
    from common.nets import BACKBONES, create_backbone

    parser = argparse.ArgumentParser(description="parameters, GMACs and batch-1 forward time of backbones")
    parser.add_argument("names", nargs="+", help=f"backbones: {', '.join(BACKBONES.names())}")
    parser.add_argument("--time", type=int, default=0, metavar="N", help="also time N batch-1 forwards")
    args = parser.parse_args(argv)
    set_device("CPU")
    for name in args.names:
        if name not in BACKBONES:
            raise FaceIdError(f"unknown backbone '{name}'; known: {', '.join(BACKBONES.names())}")
        net = create_backbone(name)
        line = f"{name}: input {net.input_size}, embedding {net.embedding_size}, " \
               f"{count_params(net) / 1e6:.2f} M params, {count_macs(net) / 1e9:.3f} GMACs"
        if args.time:
            line += f", {forward_ms(net, repeats=args.time):.1f} ms/forward (batch 1, graph mode)"
        print(line, flush=True)


if __name__ == "__main__":
    from common.core.errors import guard

    guard(main)
