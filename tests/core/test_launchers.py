"""Launchers (issue 23 item 4) in DRY_RUN mode: LAUNCHER=mpirun gives each rank the device of its local rank and
forwards the CUDA/NCCL environment; msrun on Ascend; --bind_core; per-rank --workers from the cores per device.
The device a process then selects is checked in Python with MindSpore's set_device recorded."""
import os
import shlex
import subprocess

import pytest

from tests.helpers import ROOT, make_data


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("launch")
    make_data(out / "data", train_ids=3, train_images=2, test_ids=20, test_images=2, size=40, pairs_per_fold=1)
    return out


def _sh(script, *args, cwd, env):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("NCCL_", "OMPI_", "MS_", "RANK_"))}
    e.update(env)
    p = subprocess.run(["bash", os.path.join(ROOT, "scripts", script), *map(str, args)], cwd=str(cwd), env=e,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    cmd = next(ln for ln in lines if "train.py" in ln)
    return shlex.split(cmd), [ln for ln in lines if ln.startswith("rank ")]


def _opt(words, key):
    return words[words.index(key) + 1] if key in words else None


def test_mpirun_device_ids_environment_binding_workers(data):
    env = {"DRY_RUN": "1", "LAUNCHER": "mpirun", "FACEID_FAKE_DEVICE": "GPU", "CORES": "16",
           "NCCL_DEBUG": "INFO", "NCCL_SOCKET_IFNAME": "eth0", "CUDA_HOME": "/opt/cuda11",
           "LD_LIBRARY_PATH": "/opt/cuda11/lib64", "CUDA_VISIBLE_DEVICES": "0,1,2,3"}
    words, ranks = _sh("run_distribute_train_gpu.sh", "lightcnn", 4, "--bind_core", "--train_root",
                       data / "data" / "train", cwd=data, env=env)
    assert words[0].endswith("mpirun") and _opt(words, "-n") == "4"
    forwarded = {words[i + 1] for i, w in enumerate(words) if w == "-x"}
    assert {"NCCL_DEBUG", "NCCL_SOCKET_IFNAME", "CUDA_HOME", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES",
            "PYTHONPATH", "PATH"} <= forwarded
    assert _opt(words, "--map-by") == "slot:PE=4" and _opt(words, "--bind-to") == "core"  # 16 cores / 4 ranks
    assert _opt(words, "--workers") == "3" and _opt(words, "--device_target") == "GPU"
    assert "--bind_core" not in words  # consumed by the launcher, not passed to train.py
    assert ranks == [f"rank {r}: device id {r} (OMPI_COMM_WORLD_LOCAL_RANK={r})" for r in range(4)]

    words, _ = _sh("run_distribute_train_gpu.sh", "lightcnn", 2, "--train_root", data / "data" / "train",
                   "--workers", "5", cwd=data, env=dict(env, CORES="8"))
    assert _opt(words, "--bind-to") == "none" and words.count("--workers") == 1 and _opt(words, "--workers") == "5"


def test_msrun_on_ascend_and_gpu_bind_core_and_workers(data):
    env = {"DRY_RUN": "1", "FACEID_FAKE_DEVICE": "Ascend", "CORES": "24", "MASTER_PORT": "29555"}
    words, ranks = _sh("run_distribute_train_ascend.sh", "lightcnn", 8, "--bind_core", "--train_root",
                       data / "data" / "train", cwd=data, env=env)
    assert words[0].endswith("msrun") and "--worker_num=8" in words and "--local_worker_num=8" in words
    assert "--bind_core=True" in words and _opt(words, "--device_target") == "Ascend"
    assert _opt(words, "--workers") == "2"  # 24 cores / 8 NPUs = 3 per rank, one for the training process
    assert ranks == [f"rank {r}: device id {r} (msrun local rank {r})" for r in range(8)]

    words, _ = _sh("run_distribute_train_gpu.sh", "lightcnn", 2, "--train_root", data / "data" / "train",
                   cwd=data, env=dict(env, FACEID_FAKE_DEVICE="GPU", CORES="2"))
    assert "--bind_core=True" not in words and _opt(words, "--workers") == "1"  # never below one worker


def test_cpu_msrun_keeps_the_recipe_workers(data):
    words, ranks = _sh("run_distribute_train_cpu.sh", "lightcnn", 2, "--train_root", data / "data" / "train",
                       cwd=data, env={"DRY_RUN": "1", "MASTER_PORT": "29556"})
    assert "--workers" not in words and ranks == []


@pytest.mark.parametrize("env, expected", [
    ({"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "6", "OMPI_COMM_WORLD_LOCAL_RANK": "1"}, None),
    ({"OMPI_COMM_WORLD_SIZE": "8", "OMPI_COMM_WORLD_RANK": "6", "OMPI_COMM_WORLD_LOCAL_RANK": "2"}, 2),
    ({"RANK_TABLE_FILE": "/x.json", "RANK_SIZE": "2", "RANK_ID": "1", "DEVICE_ID": "5"}, 5),
    ({}, "unset"),
])
def test_the_process_selects_its_local_rank_device(monkeypatch, env, expected):
    """set_device on GPU without --device_id: mpirun's OMPI_COMM_WORLD_LOCAL_RANK (rank 6 on its node's GPU 2),
    a rank table's DEVICE_ID; ms.set_device is recorded instead of run."""
    import mindspore as ms

    from common.core.env import set_device
    from common.core.errors import FaceIdError

    for k in [k for k in os.environ if k.startswith(("OMPI_", "MS_", "RANK_")) or k == "DEVICE_ID"]:
        monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("FACEID_FAKE_DEVICE", "GPU")
    calls = []
    monkeypatch.setattr(ms, "set_device", lambda *a: calls.append(a))
    if expected is None:  # rank 6 of a world of 4: refused by the launch check
        with pytest.raises(FaceIdError, match="OMPI_COMM_WORLD_RANK=6"):
            set_device("GPU")
        return
    assert set_device("GPU") == "GPU"
    assert calls == ([("GPU",)] if expected == "unset" else [("GPU", expected)])
