"""Data parallel for real: run_distribute_train_cpu.sh 2 (msrun, mccl) on tiny LightCNN data vs 1 process.

Both ranks end with identical weights, read disjoint shards whose union per step is the 1-process batch,
only rank 0 writes checkpoints, and the 2 x batch 4 run matches 1 process at batch 8 (dropout 0, no
augmentation randomness, SGD). About a minute on 2 cores.
"""
import glob
import os

import numpy as np
import pytest

from common.train.checkpoint import read
from tests.helpers import ROOT, make_data, run

STEPS = 3
ARGS = ["--config", os.path.join(ROOT, "lightcnn", "configs", "demo.yaml"),
        "--preprocess", "{channels: 1, resize: 64, crop: 64, mean: 127.5, std: 128.0, flip: false}",
        "--epochs", "1", "--max_steps", str(STEPS), "--log_every", "1", "--workers", "1", "--dropout", "0.0",
        "--optimizer", "sgd", "--lr", "0.01", "--warmup_epochs", "0", "--param_groups", "[]", "--seed", "3"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    train, _ = make_data(root, train_ids=8, train_images=4)  # 32 images: 4 steps of 2 x 4 or 1 x 8
    out = {}
    for name, script, n, batch in (("2p", "run_distribute_train_cpu.sh", ["2"], 4),
                                   ("1p", "train_standalone.sh", [], 8)):
        work = root / name
        work.mkdir()
        run(["bash", os.path.join(ROOT, "lightcnn", "scripts", script)] + n +
            ARGS + ["--train_root", str(train), "--out_dir", str(work / "out"), "--batch_size", str(batch)],
            cwd=str(work), env={"FOREGROUND": "1", "FACEID_DEBUG_DIR": str(work / "dbg"),
                                "LOG_DIR": str(work / "launcher")})
        out[name] = work
    return out


def _weights(path):
    z = np.load(path)
    return {k: z[k] for k in z.files}


def test_both_ranks_end_with_identical_weights(runs):
    w0 = _weights(runs["2p"] / "dbg" / "rank0_weights.npz")
    w1 = _weights(runs["2p"] / "dbg" / "rank1_weights.npz")
    assert w0.keys() == w1.keys() and len(w0) > 10
    for k in w0:
        np.testing.assert_array_equal(w0[k], w1[k], err_msg=k)


def test_each_rank_reads_its_own_shard(runs):
    dbg = runs["2p"] / "dbg"
    r0, r1 = (np.load(dbg / f"rank{r}_epoch0_indices.npy") for r in (0, 1))
    assert len(r0) == len(r1) == 16
    assert not set(r0) & set(r1) and sorted(np.concatenate([r0, r1])) == list(range(32))
    one = np.load(runs["1p"] / "dbg" / "rank0_epoch0_indices.npy")
    for k in range(STEPS):  # step k of the 2 ranks together = step k of one process at the doubled batch
        assert set(r0[4 * k: 4 * k + 4]) | set(r1[4 * k: 4 * k + 4]) == set(one[8 * k: 8 * k + 8])


def test_rank0_alone_writes_checkpoints_every_rank_logs(runs):
    out = runs["2p"] / "out"
    assert sorted(os.listdir(out / "ckpt")) == [f"lightcnn9_demo-e0-s{STEPS}.ckpt"]
    logs = {r: open(out / "logs" / f"train_rank{r}.log").read() for r in (0, 1)}
    for r, log in logs.items():
        assert log.count("] loss ") == STEPS, log
    assert "checkpoint None" in logs[1] and "checkpoint None" not in logs[0]
    assert "world size 2" in logs[0] or "rank 0/2" in logs[0]
    assert sorted(os.path.basename(p) for p in glob.glob(str(runs["2p"] / "launcher" / "worker_*.log"))) == \
        ["worker_0.log", "worker_1.log"]
    ck = read(str(out / "ckpt" / f"lightcnn9_demo-e0-s{STEPS}.ckpt"))
    w0 = _weights(runs["2p"] / "dbg" / "rank0_weights.npz")
    for k, v in w0.items():
        np.testing.assert_array_equal(ck[k].asnumpy(), v, err_msg=k)


def _losses(path):
    return [float(line.split("] loss ")[1].split()[0]) for line in open(path) if "] loss " in line]


def test_two_processes_match_one_at_the_doubled_batch(runs):
    # per step: the mean of the 2 ranks' losses (4 samples each) = the loss of 1 process on the same 8 samples
    l0, l1 = (_losses(runs["2p"] / "out" / "logs" / f"train_rank{r}.log") for r in (0, 1))
    one = _losses(runs["1p"] / "out" / "logs" / "train_rank0.log")
    assert len(one) == STEPS and len(set(one)) == STEPS  # the weights moved between steps
    np.testing.assert_allclose((np.array(l0) + np.array(l1)) / 2, one, atol=2e-4)
    w2 = _weights(runs["2p"] / "dbg" / "rank0_weights.npz")
    w1 = _weights(runs["1p"] / "dbg" / "rank0_weights.npz")
    assert w1.keys() == w2.keys()
    for k in w1:
        np.testing.assert_allclose(w2[k], w1[k], rtol=1e-4, atol=1e-6, err_msg=k)
