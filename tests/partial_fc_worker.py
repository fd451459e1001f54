"""One rank of tests/test_partial_fc.py's msrun runs (not a test module itself).

    msrun --worker_num W ... tests/partial_fc_worker.py OUT_DIR STATE_NPZ FIRST_STEP STEPS [RESUME_CKPT|-] [SAMPLE_STEPS]

A tiny Dense backbone + a sharded ArcFace head (common.recipes.margin.build_train_network with head_parallel),
SGD with momentum and weight decay through the loop's own train cell (common.train.amp.train_network) and checkpoint
manager (common.heads.shards.checkpoint_manager). The global batch of step t (G rows, from a seed) is split over
the ranks. Per step this rank writes OUT_DIR/rank<r>_step<t>.npz: the loss, the reduced gradients (what the
optimizer gets) and, after the step, every parameter (network and optimizer state); at the end a checkpoint
of step FIRST_STEP + STEPS goes to OUT_DIR/ckpt. STATE_NPZ: the initial full state (unless RESUME_CKPT).
SAMPLE_STEPS > 0: then a second run, sample_rate 0.5 over C2 classes on learnable data (class prototypes + noise):
OUT_DIR/rank<r>_sample.npz holds its losses, the shard shape, and per step whether every positive of the
global batch in this shard is among the centres ``sample`` picks.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common.core.env  # noqa: E402,F401

import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402
from mindspore import Tensor, nn, ops  # noqa: E402

from common.train import amp
from common.core import distributed  # noqa: E402
from common.core.config import Config  # noqa: E402
from common.heads.shards import checkpoint_manager  # noqa: E402
from common.recipes.margin import build_train_network  # noqa: E402
from common.train.optim import build_optimizer  # noqa: E402

IN, HID, D, C, G = 12, 16, 8, 10, 8
LR, MOMENTUM, WD = 0.2, 0.9, 5e-4
HEAD_ARGS = {"s": 16.0, "m": 0.3}


def batch(t):
    rng = np.random.default_rng(1000 + t)
    return rng.normal(size=(G, IN)).astype(np.float32), rng.integers(0, C, G).astype(np.int32)


class Backbone(nn.Cell):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.relu = nn.Dense(IN, HID), nn.Dense(HID, D), nn.ReLU()
        self.embedding_size = D

    def construct(self, x):
        return self.fc2(self.relu(self.fc1(x)))


def main(out, state, first, steps, resume=None):
    ms.set_device("CPU")
    ms.set_context(mode=ms.GRAPH_MODE)
    rank, world = distributed.init("CPU")
    b = G // world
    cfg = Config(config="worker", head="arcface", head_args=HEAD_ARGS, head_parallel=True, sample_rate=1.0,
                 batch_size=b, seed=0)
    net, backbone = build_train_network(cfg, C, Backbone())
    if not resume:
        s = np.load(state)
        for name in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"):
            getattr(getattr(backbone, name.split(".")[0]), name.split(".")[1]).set_data(Tensor(s[name]))
        net.head.weight.set_data(Tensor(s["head"][net.start:net.start + net.count]))
    opt = build_optimizer("sgd", net.trainable_params(), [LR] * 100, WD, MOMENTUM)
    train_net = amp.train_network(net, opt, "O0", 1.0, False)
    train_net.set_train(True)
    manager = checkpoint_manager(os.path.join(out, "ckpt"), "pfc", 5, net)
    if resume:
        manager.load(train_net, resume)
    grad = ops.GradOperation(get_by_list=True)
    for t in range(first, first + steps):
        x, y = batch(t)
        x, y = Tensor(x[rank * b:(rank + 1) * b]), Tensor(y[rank * b:(rank + 1) * b])
        grads = train_net.grad_reducer(grad(net, train_net.weights)(x, y))
        loss = float(train_net(x, y).asnumpy())
        dump = {"loss": np.float64(loss), "class_start": net.start, "class_count": net.count}
        dump.update({"grad:" + p.name: g.asnumpy() for p, g in zip(train_net.weights, grads)})
        dump.update({"param:" + p.name: p.asnumpy() for p in train_net.get_parameters()
                     if "learning_rate" not in p.name})
        np.savez(os.path.join(out, f"rank{rank}_step{t}.npz"), **dump)
    manager.save(train_net, 0, first + steps, first + steps, C)
    print(f"rank {rank}/{world} done", flush=True)
    return rank, world


C2 = 64


def sampled(out, rank, world, steps):
    b = G // world
    cfg = Config(config="worker", head="arcface", head_args=HEAD_ARGS, head_parallel=True, sample_rate=0.5,
                 batch_size=b, seed=0)
    net, _ = build_train_network(cfg, C2, Backbone())
    opt = build_optimizer("sgd", net.trainable_params(), [LR] * steps, WD, MOMENTUM)
    train_net = amp.train_network(net, opt, "O0", 1.0, False)
    train_net.set_train(True)
    protos = np.random.default_rng(5).normal(size=(C2, IN)).astype(np.float32)
    losses, kept = [], []
    for t in range(steps):
        rng = np.random.default_rng(5000 + t)
        y = rng.integers(0, C2, G).astype(np.int32)
        x = (protos[y] + 0.3 * rng.normal(size=(G, IN))).astype(np.float32)
        picked = set(net.sample(Tensor(y)).asnumpy().tolist())
        mine = {int(v) - net.start for v in y if net.start <= v < net.start + net.count}
        kept.append(mine <= picked and len(picked) == net.num_sample)
        losses.append(float(train_net(Tensor(x[rank * b:(rank + 1) * b]), Tensor(y[rank * b:(rank + 1) * b])).asnumpy()))
    np.savez(os.path.join(out, f"rank{rank}_sample.npz"), losses=np.array(losses), kept=np.array(kept),
             shard_shape=np.array(net.head.weight.shape),
             moment_shape=np.array([p.shape for p in opt.moments if p.name.endswith("head.weight")][0]),
             num_sample=net.num_sample, count=net.count)


if __name__ == "__main__":
    a = sys.argv[1:]
    r, w = main(a[0], a[1], int(a[2]), int(a[3]), a[4] if len(a) > 4 and a[4] != "-" else None)
    if len(a) > 5 and int(a[5]) > 0:
        sampled(a[0], r, w, int(a[5]))
