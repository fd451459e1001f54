"""Issue 23 item 1 through the launchers: with a stand-in nvidia-smi on PATH (an NVIDIA GPU visible, no CUDA 11
set-up), ``python -m common.launch_check train cosface`` and every training launcher in scripts/ (and a model
folder's wrapper) refuse to train on the CPU in one ``error:`` line, exit 2, before anything starts; the line of
the auto launchers is the very line cosface/train.py prints. The CPU launcher (device forced to CPU) still passes."""
import os
import stat
import subprocess
import sys

import pytest

from tests.helpers import ROOT, make_data

CLEAN = ("CUDA_HOME", "FACEID_FAKE_DEVICE", "FACEID_ORT_PROVIDERS", "ASCEND_HOME", "ASCEND_TOOLKIT_HOME",
         "SKIP_CHECK", "DRY_RUN", "LAUNCHER", "DEVICE_ID", "RANK_TABLE_FILE", "RANK_SIZE", "MS_WORKER_NUM", "MS_ROLE")


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpu_visible")
    (root / "bin").mkdir()
    smi = root / "bin" / "nvidia-smi"
    smi.write_text("#!/bin/sh\n[ \"$1\" = -L ] && echo 'GPU 0: NVIDIA H200 (UUID: GPU-0)'\nexit 0\n")
    smi.chmod(smi.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    train, _ = make_data(root / "data", train_ids=2, train_images=2, test_ids=20, test_images=2, pairs_per_fold=1)
    table = root / "hccl_8p.json"
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "hccl_tools.py"), "write", "--devices", "0-7",
                    "--server_ip", "10.0.0.1", "--device_ips", ",".join(f"192.168.0.{i}" for i in range(8)), "--out",
                    str(table)], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    env.update(PATH=f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}", CHECK_ONLY="1", FOREGROUND="1",
               LOG_DIR=str(root / "launcher_logs"))
    return {"root": root, "env": env, "train": str(train), "table": str(table),
            "args": ["--config", os.path.join(ROOT, "cosface", "configs", "demo.yaml"), "--train_root", str(train),
                     "--out_dir", str(root / "run")]}


def _run(box, cmd):
    return subprocess.run(cmd, cwd=str(box["root"]), env=box["env"], capture_output=True, text=True, timeout=300)


def _refusal(p):
    out = p.stdout + p.stderr
    assert p.returncode == 2, out[-2000:]
    assert "Traceback" not in out, out[-2000:]
    errors = [ln for ln in out.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, out[-2000:]
    return errors[0]


@pytest.fixture(scope="module")
def train_line(box):
    """The line cosface/train.py --device_target auto stops with."""
    line = _refusal(_run(box, [sys.executable, os.path.join(ROOT, "cosface", "train.py"), "--device_target", "auto"]
                         + box["args"]))
    assert "NVIDIA GPU is visible" in line and "--device_target CPU" in line, line
    return line


def test_launch_check_refuses_like_train_py(box, train_line):
    line = _refusal(_run(box, [sys.executable, "-m", "common.launch_check", "train", "cosface"] + box["args"]))
    assert line == train_line
    assert not (box["root"] / "run").exists()


@pytest.mark.parametrize("launcher", ["scripts/train_standalone.sh cosface", "cosface/scripts/train_standalone.sh",
                                      "scripts/train_standalone.sh cosface 0"])
def test_auto_launchers_refuse_with_the_same_line(box, train_line, launcher):
    cmd = ["bash"] + [os.path.join(ROOT, launcher.split()[0])] + launcher.split()[1:]
    line = _refusal(_run(box, cmd + box["args"]))
    assert line == train_line
    assert not (box["root"] / "run").exists() and not (box["root"] / "launcher_logs").exists()


@pytest.mark.parametrize("launcher,target", [("scripts/run_distribute_train_gpu.sh cosface 2", "GPU"),
                                             ("scripts/run_distribute_train_ascend.sh cosface 2", "Ascend"),
                                             ("scripts/train_distribute_8p.sh cosface TABLE", "Ascend")])
def test_device_launchers_refuse_a_device_the_build_cannot_run(box, launcher, target):
    parts = launcher.split()
    cmd = ["bash", os.path.join(ROOT, parts[0])] + [box["table"] if a == "TABLE" else a for a in parts[1:]]
    line = _refusal(_run(box, cmd + box["args"]))
    assert line.startswith(f"error: --device_target {target}: ") and "CPU" in line, line
    assert not (box["root"] / "run").exists()


def test_the_cpu_launcher_names_the_cpu_it_was_asked_for(box):
    p = _run(box, ["bash", os.path.join(ROOT, "scripts", "run_distribute_train_cpu.sh"), "cosface", "2"] + box["args"])
    assert p.returncode == 0, (p.stdout + p.stderr)[-2000:]
    assert "device: CPU" in p.stdout + p.stderr and "error:" not in p.stdout + p.stderr
