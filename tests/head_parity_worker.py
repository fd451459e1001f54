"""One rank of tests/heads/test_head_parity.py's msrun run (not a test module itself).

    msrun --worker_num 2 ... tests/head_parity_worker.py OUT_DIR

The issue-23 measurement in one launch, through the training loop itself (common.train.loop.fit: its train cell,
optimizer, checkpoint manager and resume): a tiny IResNet-18 + CosFace head, SGD with momentum and weight decay,
batch B per rank (the global batch of step t from a seed, split over the ranks).

1. replicated head, data parallel, one step (max_steps 1) -> OUT/rep/ckpt/par-e0-s1.ckpt (rank 0 writes it);
2. rank 0 splits it for the ranks (common.heads.shards.split -> OUT/pfc/ckpt);
3. the replicated run resumed from step 1 for one more step -> OUT/rep/ckpt/par-e0-s2.ckpt;
4. the sharded head (head_parallel, sample_rate 1.0) resumed from the split -> OUT/pfc/ckpt/par-e0-s2.ckpt.
Each fit's final trainable weights per rank: OUT/dbg_<phase>/rank<r>_weights.npz; its last loss:
OUT/loss_<phase>_rank<r>.npy.
"""
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common.core.env  # noqa: E402,F401

import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402
from mindspore import Tensor  # noqa: E402

from common.core import distributed  # noqa: E402
from common.core.config import Config  # noqa: E402
from common.heads import shards  # noqa: E402
from common.nets import create_backbone  # noqa: E402
from common.recipes.margin import build_train_network  # noqa: E402
from common.train import plan  # noqa: E402
from common.train.loop import fit  # noqa: E402

WIDTHS, EMB, C, B, STEPS = (4, 8, 8, 8), 16, 12, 4, 4
LR, MOMENTUM, WD, S, M = 0.1, 0.9, 5e-4, 16.0, 0.2


def batch(t, world):
    """Global batch of step t: (world * B, 3, 112, 112) float32 faces-like values, labels in [0, C)."""
    rng = np.random.default_rng(2300 + t)
    x = rng.normal(size=(world * B, 3, 112, 112)).astype(np.float32)
    return x, rng.integers(0, C, world * B).astype(np.int32)


class Batches:
    def __init__(self, rank, world, skip):
        self.rank, self.world, self.skip = rank, world, skip

    def create_tuple_iterator(self):
        for t in range(self.skip, STEPS):
            x, y = batch(t, self.world)
            lo, hi = self.rank * B, (self.rank + 1) * B
            yield Tensor(x[lo:hi]), Tensor(y[lo:hi])


def config(out, sharded, max_steps, resume):
    return Config(config="head_parity", backbone="iresnet18", head="cosface", head_args={"s": S, "m": M},
                  head_parallel=sharded, sample_rate=1.0, batch_size=B, seed=0, device_target="CPU",
                  amp_level="O0", lr=LR, lr_schedule="constant", warmup_epochs=0, epochs=1, optimizer="sgd",
                  weight_decay=WD, momentum=MOMENTUM, nesterov=False, param_groups=[], ckpt_dir=out,
                  ckpt_prefix="par", keep_ckpt=5, resume=resume, log_every=1, save_every_steps=0,
                  max_steps=max_steps)


def phase(out, name, rank, world, sharded, max_steps, resume):
    from common.heads.shards import checkpoint_manager

    ms.set_seed(0)
    cfg = config(os.path.join(out, "pfc" if sharded else "rep", "ckpt"), sharded, max_steps, resume)
    backbone = create_backbone("iresnet18", embedding_size=EMB, widths=WIDTHS)
    net, _ = build_train_network(cfg, C, backbone)
    manager = checkpoint_manager(cfg.ckpt_dir, "par", 5, net)
    os.environ[distributed.DEBUG_ENV] = os.path.join(out, f"dbg_{name}")
    result = fit(plan.resolve(cfg, STEPS, rank, world, lr_scale=1.0), net, net.trainable_params(),
                 lambda epoch, skip: (Batches(rank, world, skip), STEPS - skip), C, printer=lambda line: None,
                 manager=manager,
                 on_step_end=lambda step, epoch, train_net: None)
    np.save(os.path.join(out, f"loss_{name}_rank{rank}.npy"), np.float64(result["loss"]))
    return result


def wait_for(path, seconds=180):
    deadline = time.time() + seconds
    while not os.path.isfile(path):
        if time.time() > deadline:
            raise SystemExit(f"{path}: not written within {seconds} s")
        time.sleep(0.2)


def main(out):
    ms.set_device("CPU")
    ms.set_context(mode=ms.GRAPH_MODE)
    rank, world = distributed.init("CPU")
    first = os.path.join(out, "rep", "ckpt", "par-e0-s1.ckpt")
    phase(out, "rep1", rank, world, False, 1, None)
    split_main = os.path.join(out, "pfc", "ckpt", "par-e0-s1.ckpt")
    if rank == 0:
        wait_for(first)
        os.makedirs(os.path.dirname(split_main), exist_ok=True)
        shards.split(first, world, os.path.dirname(split_main))  # the main file is written last
    wait_for(split_main)
    phase(out, "rep2", rank, world, False, 2, first)
    phase(out, "pfc2", rank, world, True, 2, split_main)
    print(f"rank {rank}/{world} done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
