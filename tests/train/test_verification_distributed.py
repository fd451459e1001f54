"""Periodic verification in a 2-rank CPU msrun run (run_distribute_train_cpu.sh 2, mccl): rank 0 verifies every
step while rank 1 waits at the explicit meeting point (common.core.distributed.wait_for_all) instead of blocking
inside its next step; every verification completes on both ranks and both end with identical weights."""
import json
import os
import re

import numpy as np
import pytest

from tests.helpers import ROOT, TINY_BB, TINY_PRE, make_data, run

STEPS = 3


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    root = tmp_path_factory.mktemp("verify2p")
    train, test = make_data(root, train_ids=4, train_images=6, test_ids=20, test_images=2, pairs_per_fold=1)
    out = root / "out"
    p = run(["bash", os.path.join(ROOT, "lightcnn", "scripts", "run_distribute_train_cpu.sh"), "2",
             "--config", os.path.join(ROOT, "lightcnn", "configs", "demo.yaml"), "--train_root", str(train),
             "--out_dir", str(out), "--preprocess", TINY_PRE, "--backbone_args", TINY_BB, "--batch_size", "4",
             "--epochs", "1", "--max_steps", str(STEPS), "--log_every", "1", "--workers", "1", "--dropout", "0.0",
             "--optimizer", "sgd", "--lr", "0.01", "--warmup_epochs", "0", "--seed", "3",
             "--verify_data_root", str(test), "--verify_every_steps", "1", "--verify_batch_size", "8"],
            cwd=str(root), env={"FOREGROUND": "1", "FACEID_DEBUG_DIR": str(root / "dbg"),
                                "LOG_DIR": str(root / "launcher")})
    return root, out, p


def test_every_verification_completes_on_both_ranks(two_ranks):
    root, out, _ = two_ranks
    logs = {r: open(out / "logs" / f"train_rank{r}.log").read() for r in (0, 1)}
    assert logs[0].count("] loss ") == logs[1].count("] loss ") == STEPS
    scored = sorted({int(s) for s in re.findall(r"\[verification step (\d+)\] (?!rank)", logs[0])})
    waited = [int(s) for s in re.findall(r"\[verification step (\d+)\] rank 1: waited [0-9.]+ s for rank 0's", logs[1])]
    assert scored == waited == list(range(1, STEPS + 1)), (scored, waited, logs[1][-2000:])
    assert "waited" not in logs[0] and not re.search(r"\[verification step \d+\] (?!rank)", logs[1])
    records = [json.loads(l) for l in open(out / "logs" / "verification.jsonl")]
    assert [r["global_step"] for r in records] == list(range(1, STEPS + 1))
    for r in records:
        (res,) = r["results"].values()
        assert 0.0 <= res["accuracy"] <= 1.0 and 0.0 <= res["accuracy_flip"] <= 1.0


def test_both_ranks_end_with_identical_weights(two_ranks):
    root, _, _ = two_ranks
    w = [dict(np.load(root / "dbg" / f"rank{r}_weights.npz")) for r in (0, 1)]
    assert w[0].keys() == w[1].keys() and len(w[0]) > 5
    for k in w[0]:
        np.testing.assert_array_equal(w[0][k], w[1][k], err_msg=k)


def test_a_failed_verification_on_rank0_stops_the_waiting_ranks(tmp_path, monkeypatch):
    from common.core import distributed
    from common.core.config import Config
    from common.core.errors import FaceIdError
    from common.train.verification import VerificationCallback

    flags = []

    def meet(flag, world):
        flags.append((flag, world))
        return 1  # as if rank 0 reported a failure

    monkeypatch.setattr(distributed, "wait_for_all", meet)
    cfg = Config({"out_dir": str(tmp_path), "verify_data_root": str(tmp_path), "verify_every_steps": 2})
    waiting = VerificationCallback(cfg, None, None, rank=1, world=2)
    assert waiting and not waiting.targets  # a non-zero rank takes part although it scores nothing
    waiting.on_step_end(1, 0, None)
    assert flags == []  # not a verification step: no meeting
    with pytest.raises(FaceIdError, match=r"rank 0 failed during the verification at step 2"):
        waiting.on_step_end(2, 0, None)

    class Broken:
        name = "t"

        def score(self, *a):
            raise RuntimeError("out of memory")

    scorer = VerificationCallback(Config({"out_dir": str(tmp_path), "verify_every_steps": 2}), None, None, rank=0,
                                  world=2)
    scorer.targets = [Broken()]
    with pytest.raises(RuntimeError):
        scorer.on_step_end(2, 0, None)
    assert flags == [(0, 2), (1, 2)]  # rank 0 still met the others, with its failure flag
