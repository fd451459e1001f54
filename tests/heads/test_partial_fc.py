"""Partial FC (common/heads/partial_fc.py, common/heads/shards.py) and multi-node launches, with msrun CPU processes as
the ranks (mccl), against an independent float64 PyTorch computation of one process with the full head.

Three msrun launches serve every check (about 2.5 minutes on 2 cores):
- 2 ranks (tests/partial_fc_worker.py): 3 SGD steps (momentum, weight decay) of a tiny Dense backbone + sharded
  ArcFace head from a seeded state, then a sample_rate 0.5 run on learnable data;
- the head is merged (python -m common.head_shards merge), split for 4 (split), and 4 ranks resume for 3 more
  steps: loss, reduced gradients and weights follow the unbroken one-process run from the merged state;
- two "nodes" (two run_distribute_train_cpu.sh --nodes 2 --node_rank 0|1 --master_addr 127.0.0.1) train the
  ArcFace demo model (head_parallel, sample_rate 0.5) together.
The rank-table launcher is checked in DRY_RUN mode with a fake two-server table (loopback addresses only).
"""
import math
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from tests.helpers import ROOT, run

sys.path.insert(0, ROOT)
from tests import partial_fc_worker as W  # noqa: E402

WORKER = os.path.join(ROOT, "tests", "partial_fc_worker.py")
STEPS = 3


def _msrun(n, args, log_dir, timeout=300):
    """msrun with n local workers running the worker script; the venv's python as 'python'."""
    from tests.helpers import PY

    bin_dir = os.path.join(str(log_dir), ".bin")
    os.makedirs(bin_dir, exist_ok=True)
    with open(os.path.join(bin_dir, "python"), "w") as f:
        f.write(f'#!/bin/sh\nexec "{PY}" "$@"\n')
    os.chmod(os.path.join(bin_dir, "python"), 0o755)
    msrun = os.path.join(os.path.dirname(PY), "msrun")
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ["PATH"], ONEDNN_MAX_CPU_ISA="AVX2",
               PYTHONPATH=ROOT)
    p = subprocess.run([msrun, f"--worker_num={n}", f"--local_worker_num={n}", f"--master_port={_port()}",
                        f"--log_dir={log_dir}", "--join=True", WORKER] + [str(a) for a in args],
                       env=env, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        logs = "".join(open(os.path.join(log_dir, f)).read()[-2000:] for f in sorted(os.listdir(log_dir))
                       if f.startswith("worker_"))
        raise AssertionError(f"msrun {n} failed:\n{p.stdout[-2000:]}\n{logs}")


def _port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def reference(state, steps):
    """One process, full head, float64 torch: Dense-ReLU-Dense, ArcFace logits (cos(theta + m) on the target,
    its monotonic extension cos(theta) - (1 + cos(pi - m)) past theta = pi - m), mean CE, SGD with momentum and
    weight decay (v = mu v + g + wd w; w -= lr v). Per step: loss and gradients before it, weights and momenta
    after it."""
    torch = pytest.importorskip("torch", reason="the reference computation is written in PyTorch")
    P = {k: torch.tensor(state[k], dtype=torch.float64, requires_grad=True)
         for k in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "head")}
    V = {k: torch.zeros_like(v) for k, v in P.items()}
    s, m = W.HEAD_ARGS["s"], W.HEAD_ARGS["m"]
    theta_t, rows = math.pi - m, torch.arange(W.G)
    out = []
    for t in range(steps):
        x, y = (torch.tensor(v) for v in W.batch(t))
        x, y = x.double(), y.long()
        e = torch.relu(x @ P["fc1.weight"].T + P["fc1.bias"]) @ P["fc2.weight"].T + P["fc2.bias"]
        cos = torch.nn.functional.normalize(e, dim=1) @ torch.nn.functional.normalize(P["head"], dim=1).T
        ct = cos[rows, y].clamp(-1 + 1e-6, 1 - 1e-6)
        th = torch.acos(ct)
        logits = s * cos.clone()
        logits[rows, y] = s * torch.where(th <= theta_t, torch.cos(th + m), ct - 1 - math.cos(theta_t))
        loss = torch.nn.functional.cross_entropy(logits, y)
        grads = torch.autograd.grad(loss, list(P.values()))
        rec = {"loss": loss.item(), "grad": {k: g.numpy().copy() for k, g in zip(P, grads)}}
        with torch.no_grad():
            for (k, p), g in zip(P.items(), grads):
                V[k] = W.MOMENTUM * V[k] + g + W.WD * p
                p -= W.LR * V[k]
        rec["param"] = {k: p.detach().numpy().copy() for k, p in P.items()}
        rec["moment"] = {k: v.numpy().copy() for k, v in V.items()}
        out.append(rec)
    return out


def _rel(a, b):
    return float(np.linalg.norm(np.asarray(a, np.float64) - b) / max(np.linalg.norm(b), 1e-30))


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    rng = np.random.default_rng(7)
    s = {"fc1.weight": rng.normal(0, 0.3, (W.HID, W.IN)), "fc1.bias": rng.normal(0, 0.1, W.HID),
         "fc2.weight": rng.normal(0, 0.3, (W.D, W.HID)), "fc2.bias": rng.normal(0, 0.1, W.D),
         "head": rng.normal(0, 1, (W.C, W.D))}
    s = {k: v.astype(np.float32) for k, v in s.items()}
    path = tmp_path_factory.mktemp("pfc_state") / "state.npz"
    np.savez(path, **s)
    return path, s


@pytest.fixture(scope="module")
def ref(state):
    return reference(state[1], 2 * STEPS)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, state):
    """2 ranks from the state (+ sampled phase); merge; split for 4; 4 ranks resume."""
    root = tmp_path_factory.mktemp("pfc")
    two, four = root / "w2", root / "w4"
    two.mkdir()
    four.mkdir()
    _msrun(2, [two, state[0], 0, STEPS, "-", 30], two / "log")
    main = two / "ckpt" / f"pfc-e0-s{STEPS}.ckpt"
    merged = root / "merged.ckpt"
    run([sys.executable, "-m", "common.head_shards", "merge", str(main), "--out", str(merged)], cwd=ROOT)
    run([sys.executable, "-m", "common.head_shards", "split", str(merged), "--world", "4", "--out_dir",
         str(root / "split4")], cwd=ROOT)
    _msrun(4, [four, state[0], STEPS, STEPS, root / "split4" / "merged.ckpt"], four / "log")
    return {"two": two, "four": four, "main": main, "merged": merged, "split": root / "split4"}


def _dumps(folder, world, t):
    return [dict(np.load(folder / f"rank{r}_step{t}.npz")) for r in range(world)]


def _check_step(dumps, rec):
    """Every rank: the loss, the reduced backbone gradients and its head-shard gradient equal the one-process
    full head's within 1e-5 relative; so do the weights and momenta after the step."""
    for d in dumps:
        s, n = int(d["class_start"]), int(d["class_count"])
        assert abs(float(d["loss"]) - rec["loss"]) <= 1e-5 * abs(rec["loss"]), (float(d["loss"]), rec["loss"])
        for name in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"):
            assert _rel(d["grad:backbone." + name], rec["grad"][name]) < 1e-5, name
            assert _rel(d["param:backbone." + name], rec["param"][name]) < 1e-5, name
        assert _rel(d["grad:head.weight"], rec["grad"]["head"][s:s + n]) < 1e-5
        assert _rel(d["param:head.weight"], rec["param"]["head"][s:s + n]) < 1e-5
        assert _rel(d["param:moments.head.weight"], rec["moment"]["head"][s:s + n]) < 1e-5


def test_two_ranks_equal_one_process_full_head(runs, ref):
    starts = []
    for t in range(STEPS):
        dumps = _dumps(runs["two"], 2, t)
        _check_step(dumps, ref[t])
        starts = [(int(d["class_start"]), int(d["class_count"])) for d in dumps]
        # the shards' gradients were not averaged: rank 1's differs from rank 0's (and from their mean)
        assert not np.allclose(dumps[0]["grad:head.weight"], dumps[1]["grad:head.weight"])
    assert starts == [(0, 5), (5, 5)]


def test_merge_split_resume_on_four_ranks_continues_the_run(runs, ref):
    from common.train.checkpoint import read

    merged = {k: v.asnumpy() for k, v in read(str(runs["merged"])).items()}
    assert merged["head.weight"].shape == (W.C, W.D)
    np.testing.assert_allclose(merged["head.weight"], ref[STEPS - 1]["param"]["head"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(merged["moments.head.weight"], ref[STEPS - 1]["moment"]["head"], rtol=1e-5,
                               atol=1e-6)
    assert sorted(os.listdir(runs["split"])) == ["merged.ckpt"] + [f"merged.head-{r}-of-4.ckpt" for r in range(4)]
    assert "head.weight" not in read(str(runs["split"] / "merged.ckpt"))
    for t in range(STEPS, 2 * STEPS):  # 4 ranks resumed from the split = the unbroken run from the merged state
        dumps = _dumps(runs["four"], 4, t)
        assert [(int(d["class_start"]), int(d["class_count"])) for d in dumps] == [(0, 3), (3, 3), (6, 2), (8, 2)]
        _check_step(dumps, ref[t])


def test_rank0_main_checkpoint_has_no_head_and_loads_for_eval(runs):
    from mindspore import Tensor

    from common.heads.shards import find_shards
    from common.train.checkpoint import load_weights, read

    main = read(str(runs["main"]))
    assert not any(k.endswith("head.weight") for k in main) and "backbone.fc1.weight" in main
    assert sorted(find_shards(str(runs["main"]))[2]) == [0, 1]
    net = W.Backbone()
    load_weights(net, str(runs["main"]))  # eval / export: the backbone alone, never the head
    d = np.load(runs["two"] / f"rank0_step{STEPS - 1}.npz")
    np.testing.assert_array_equal(net.fc1.weight.asnumpy(), d["param:backbone.fc1.weight"])
    assert net(Tensor(np.zeros((1, W.IN), np.float32))).shape == (1, W.D)


def test_sampled_head_keeps_positives_learns_and_holds_c_over_w(runs):
    z = [np.load(runs["two"] / f"rank{r}_sample.npz") for r in (0, 1)]
    for d in z:
        assert d["kept"].all() and len(d["kept"]) == 30  # every positive centre of the shard was sampled
        assert int(d["num_sample"]) == 16 and int(d["count"]) == W.C2 // 2  # half the shard per step
        assert tuple(d["shard_shape"]) == (W.C2 // 2, W.D) and tuple(d["moment_shape"]) == (W.C2 // 2, W.D)
        losses = d["losses"]
        assert np.isfinite(losses).all()
        assert losses[-5:].mean() < 0.75 * losses[:5].mean(), losses
    np.testing.assert_array_equal(z[0]["losses"], z[1]["losses"])  # the global loss, the same on every rank


def test_sample_keeps_every_positive_in_process():
    """``sample`` on a shard [start, start + count) of a 3-rank split, in one process (no collectives)."""
    import mindspore as ms
    from mindspore import Tensor

    from common.heads.margin import MarginHead
    from common.heads.partial_fc import PartialFCClassifier, class_range, num_sampled

    ms.set_context(mode=ms.PYNATIVE_MODE)
    assert [class_range(100, 3, r) for r in range(3)] == [(0, 34), (34, 33), (67, 33)]
    assert num_sampled(33, 0.3, 8) == 10 and num_sampled(33, 0.1, 8) == 8 and num_sampled(33, 1.0, 8) == 33
    net = PartialFCClassifier(W.Backbone(), MarginHead(W.D, 33), 100, 2, sample_rate=0.3, rank=1, world=3)
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.integers(0, 100, 12).astype(np.int32)
        got = net.sample(Tensor(y)).asnumpy()
        assert len(got) == len(set(got)) == 10 and got.min() >= 0 and got.max() < 33
        assert {int(v) - 34 for v in y if 34 <= v < 67} <= set(got.tolist())


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory):
    from common.data.synthetic import generate

    root = tmp_path_factory.mktemp("two_nodes")
    generate(str(root / "data"), train_ids=32, train_images=2, test_ids=20, test_images=2, size=112, seed=4,
             pairs_per_fold=1, log=lambda *_: None)
    (root / "pfc.yaml").write_text(f"base: {os.path.join(ROOT, 'lresnet100e_ir', 'configs', 'demo.yaml')}\n"
                                   "head_parallel: true\nsample_rate: 0.5\n")
    port = str(_port())
    args = ["--config", str(root / "pfc.yaml"), "--train_root", str(root / "data" / "train"), "--out_dir",
            str(root / "out"), "--batch_size", "4", "--epochs", "1", "--log_every", "1", "--workers", "1",
            "--warmup_epochs", "0", "--verify_every_steps", "0", "--lr", "0.05"]
    procs = {}

    def node(k):
        procs[k] = run(["bash", os.path.join(ROOT, "scripts", "run_distribute_train_cpu.sh"), "lresnet100e_ir", "1",
                        "--nodes", "2", "--node_rank", str(k), "--master_addr", "127.0.0.1", "--master_port", port]
                       + args, cwd=str(root), check=False,
                       env={"FOREGROUND": "1", "FACEID_DEBUG_DIR": str(root / "dbg"), "MASTER_TIMEOUT": "120",
                            "CLUSTER_TIMEOUT": "200", "LOG_DIR": str(root / f"node{k}")})

    threads = [threading.Thread(target=node, args=(k,)) for k in (0, 1)]
    threads[0].start()
    threads[1].start()
    for th in threads:
        th.join()
    return root, procs


def test_two_nodes_train_together(two_nodes):
    root, procs = two_nodes
    for k in (0, 1):
        assert procs[k].returncode == 0, procs[k].stderr[-3000:]
    assert "worker_0.log" in os.listdir(root / "node0") and "worker_1.log" in os.listdir(root / "node1")
    w = [dict(np.load(root / "dbg" / f"rank{r}_weights.npz")) for r in (0, 1)]
    backbone = [k for k in w[0] if k.startswith("backbone.")]
    assert len(backbone) > 10
    for k in backbone:  # data parallel across the two nodes: identical backbones
        np.testing.assert_array_equal(w[0][k], w[1][k], err_msg=k)
    assert w[0]["head.weight"].shape == w[1]["head.weight"].shape == (16, 128)  # 32 classes / 2 ranks
    losses = [float(line.split("] loss ")[1].split()[0]) for line in
              open(root / "out" / "logs" / "train_rank1.log") if "] loss " in line]
    assert len(losses) == 8 and all(math.isfinite(v) for v in losses)
    ckpts = sorted(os.listdir(root / "out" / "ckpt"))
    assert ckpts == ["lresnet_demo-e1-s8.ckpt", "lresnet_demo-e1-s8.head-0-of-2.ckpt",
                     "lresnet_demo-e1-s8.head-1-of-2.ckpt"]


def test_node_without_master_fails_fast_with_one_line(tmp_path):
    p = run(["bash", os.path.join(ROOT, "scripts", "run_distribute_train_cpu.sh"), "lresnet100e_ir", "1", "--nodes",
             "2", "--node_rank", "1", "--master_addr", "127.0.0.1", "--master_port", str(_port())],
            cwd=str(tmp_path), check=False, env={"FOREGROUND": "1", "MASTER_TIMEOUT": "2", "SKIP_CHECK": "1"})
    assert p.returncode != 0
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "cannot reach the master 127.0.0.1:" in err[0] and "within 2 s" in err[0], err
    p = run(["bash", os.path.join(ROOT, "scripts", "run_distribute_train_gpu.sh"), "lresnet100e_ir", "8", "--nodes",
             "2", "--node_rank", "1"], cwd=str(tmp_path), check=False, env={"SKIP_CHECK": "1"})
    assert p.returncode != 0 and "needs --master_addr" in p.stderr


def test_msrun_multi_node_command(tmp_path):
    p = run(["bash", os.path.join(ROOT, "scripts", "run_distribute_train_gpu.sh"), "cosface", "8", "--nodes", "4",
             "--node_rank", "2", "--master_addr", "127.0.0.1", "--lr", "0.1"], cwd=str(tmp_path),
            env={"DRY_RUN": "1", "SKIP_CHECK": "1"})  # SKIP_CHECK: no data, no GPU here
    cmd = p.stdout.splitlines()[0].split()  # the command; the lines after it list each rank's device id
    for flag in ("--worker_num=32", "--local_worker_num=8", "--node_rank=2", "--master_addr=127.0.0.1",
                 "--master_port=8118"):
        assert flag in cmd, (flag, cmd)
    assert cmd[-2:] == ["--lr", "0.1"] and any(c.endswith("/train_cosface_gpu_32p_node2") for c in cmd)


TABLE = """{"version": "1.0", "server_count": "2", "status": "completed", "server_list": [
 {"server_id": "127.0.1.1", "host_nic_ip": "reserve", "device": [%s]},
 {"server_id": "127.0.1.2", "host_nic_ip": "reserve", "device": [%s]}]}"""


def test_rank_table_launcher_starts_this_servers_devices(tmp_path):
    dev = '{"device_id": "%d", "device_ip": "127.1.%d.%d", "rank_id": "%d"}'
    table = tmp_path / "hccl_2x4.json"
    table.write_text(TABLE % (", ".join(dev % (d, 0, d + 1, d) for d in range(4)),
                              ", ".join(dev % (d, 1, d + 1, 4 + d) for d in range(4))))

    def launch(n, extra=(), **env):
        return run(["bash", os.path.join(ROOT, "scripts", "train_distribute.sh"), "lresnet100e_ir", str(table),
                    str(n), *extra, "--lr", "0.1"], cwd=str(tmp_path), check=False,
                   env=dict({"DRY_RUN": "1", "SKIP_CHECK": "1", "LOG_DIR": str(tmp_path / "logs")}, **env))

    def parsed(p):
        assert p.returncode == 0, p.stderr
        rows = []
        for line in p.stdout.strip().splitlines():
            kv = dict(w.split("=", 1) for w in line.split() if "=" in w and w.split("=")[0].isupper())
            rows.append((int(kv["RANK_ID"]), int(kv["DEVICE_ID"]), int(kv["RANK_SIZE"])))
            assert line.endswith(f"rank_{kv['RANK_ID']}.log") and "--device_id " + kv["DEVICE_ID"] in line
        return rows

    # the fake local IP is the second server's: its 4 devices as global ranks 4..7 of 8
    assert parsed(launch(4, FACEID_HOST_IPS="127.0.0.1,127.0.1.2")) == [(4 + d, d, 8) for d in range(4)]
    assert parsed(launch(4, SERVER_ID="127.0.1.1", FACEID_HOST_IPS="127.0.0.1")) == [(d, d, 8) for d in range(4)]
    assert parsed(launch(4, ("--server_ip", "127.0.1.2"))) == [(4 + d, d, 8) for d in range(4)]
    assert not (tmp_path / "logs").exists()  # nothing started
    p = launch(4, FACEID_HOST_IPS="127.0.0.9")
    assert p.returncode != 0 and len(p.stderr.strip().splitlines()) == 1
    assert "none of this host's addresses (127.0.0.9) is a server_id" in p.stderr and "SERVER_ID" in p.stderr
    p = launch(2, FACEID_HOST_IPS="127.0.1.2")
    assert p.returncode != 0 and "holds 4 device(s) but the launch asks for 2" in p.stderr


def test_plan_head_figures():
    """common.heads.plan against hand arithmetic: 2M x 512 fp32 at W = 64, batch 128, sample_rate 0.3."""
    from common.heads.plan import main, plan

    p = plan(2_000_000, 512, 64, 128, 0.3, "fp32")
    rows = 31_250  # 2M / 64
    assert p["head_replicated"] == 3 * 2_000_000 * 512 * 4 and p["head_sharded"] == 3 * rows * 512 * 4
    assert p["centres_used"] == max(math.ceil(0.3 * rows), 64 * 128) == 9375
    assert p["logits_sharded"] == 64 * 128 * 9375 * 4 and p["logits_replicated"] == 128 * 2_000_000 * 4
    assert p["comm_replicated"] == pytest.approx(2 * 63 / 64 * 2_000_000 * 512 * 4)
    g = 64 * 128
    assert p["comm_sharded"] == pytest.approx(63 / 64 * (2 * g * 512 * 4 + g * 4) + 3 * 2 * 63 / 64 * g * 4)
    assert plan(10, 4, 3)["rows_sharded"] == 4 and plan(10, 4, 1)["comm_sharded"] == 0.0
    assert len(main(["--classes", "85742,2059906", "--world", "8,16,64"])) == 6
