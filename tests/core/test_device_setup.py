"""Device set-up (issue 23 item 1): on a machine that shows an NVIDIA GPU (a stand-in nvidia-smi on PATH) but has
no CUDA 11 set-up, ``device_target auto`` stops with one line naming CUDA and the fix instead of training on the
CPU; ``--device_target CPU`` still trains; a CUDA_HOME whose nvcc reports CUDA 12.4 makes ``--device_target GPU``
name the CUDA 11 the wheel needs. The CUDA_HOME that setup --gpu makes is checked against MindSpore's OWN plugin
selection (its C++ log line), and setup --gpu's install path runs with DRY_RUN=1 (nothing downloaded)."""
import os
import stat
import subprocess
import sys

import pytest

from tests.helpers import ROOT, make_data

NARROW = "{embedding_size: 16, widths: [4, 4, 4, 4]}"
CLEAN = ("CUDA_HOME", "FACEID_FAKE_DEVICE", "FACEID_ORT_PROVIDERS", "ASCEND_HOME", "ASCEND_TOOLKIT_HOME")


def _exe(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _nvcc(home, release):
    (home / "bin").mkdir(parents=True, exist_ok=True)
    major, minor = release.split(".")
    return _exe(home / "bin" / "nvcc", "#!/bin/sh\necho 'nvcc: NVIDIA (R) Cuda compiler driver'\n"
                f"echo 'Cuda compilation tools, release {release}, V{release}.99'\n"
                f"echo 'Build cuda_{release}.r{release}/compiler.0_0'\n")


@pytest.fixture(scope="module")
def gpu_box(tmp_path_factory):
    """A PATH with a stand-in nvidia-smi, tiny 112x112 training data, and an environment without CUDA."""
    root = tmp_path_factory.mktemp("gpu_box")
    bindir = root / "bin"
    bindir.mkdir()
    _exe(bindir / "nvidia-smi", "#!/bin/sh\n[ \"$1\" = -L ] && echo 'GPU 0: NVIDIA H200 (UUID: GPU-0)'\nexit 0\n")
    make_data(root / "data", train_ids=3, train_images=3, test_ids=20, test_images=2, size=112, pairs_per_fold=1)
    env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    return {"root": root, "env": env, "train": root / "data" / "train"}


def _train(box, tmp_path, *extra, env=None):
    args = [sys.executable, os.path.join(ROOT, "cosface", "train.py"), "--config",
            os.path.join(ROOT, "cosface", "configs", "demo.yaml"), "--train_root", str(box["train"]),
            "--out_dir", str(tmp_path / "run"), "--backbone_args", NARROW, "--batch_size", "4", "--max_steps", "1",
            "--workers", "1", "--log_every", "1", *extra]
    return subprocess.run(args, cwd=str(tmp_path), env=env or box["env"], capture_output=True, text=True,
                          timeout=600)


def _one_error_line(p):
    assert p.returncode == 2, (p.stdout + p.stderr)[-2000:]
    assert "Traceback" not in p.stderr, p.stderr[-2000:]
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, p.stderr[-2000:]
    return errors[0]


def test_auto_with_a_visible_gpu_and_no_cuda_stops_naming_cuda(gpu_box, tmp_path):
    line = _one_error_line(_train(gpu_box, tmp_path, "--device_target", "auto"))
    assert "NVIDIA GPU is visible" in line and "GPU 0: NVIDIA H200" in line
    assert "CUDA" in line and "bash scripts/setup.sh --gpu" in line and "--device_target CPU" in line
    assert not (tmp_path / "run" / "ckpt").exists()  # stopped before any training


def test_cpu_still_trains_with_a_visible_gpu(gpu_box, tmp_path):
    p = _train(gpu_box, tmp_path, "--device_target", "CPU", "--graph_mode", "false")
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    assert "training done" in p.stdout + p.stderr
    assert list((tmp_path / "run" / "ckpt").glob("*.ckpt"))


def test_gpu_with_cuda12_names_the_cuda11_the_wheel_needs(gpu_box, tmp_path):
    env = dict(gpu_box["env"], CUDA_HOME=str(_nvcc(tmp_path / "cuda-12.4", "12.4").parent.parent))
    line = _one_error_line(_train(gpu_box, tmp_path, "--device_target", "GPU", env=env))
    assert "CUDA 12.4" in line and "CUDA 11.x" in line and "setup.sh --gpu" in line
    assert "install the MindSpore build" not in line


def test_cuda_home_made_by_setup_is_what_mindspore_selects(tmp_path):
    """make_cuda_home on a fake site-packages with the runtime wheel's layout: MindSpore's own C++ loader reads
    the stand-in nvcc and picks libmindspore_gpu.so.11.6 for CUDA 11.8 (and no plugin for a 12.4 nvcc)."""
    from common.core.doctor import gpu_plugins, make_cuda_home, select_plugin

    site = tmp_path / "site"
    lib = site / "nvidia" / "cuda_runtime" / "lib"
    lib.mkdir(parents=True)
    (lib / "libcudart.so.11.0").write_bytes(b"")
    (site / "nvidia_cuda_runtime_cu11-11.8.89.dist-info").mkdir()
    home = tmp_path / "cuda11"
    assert make_cuda_home(str(home), str(site)) == (11, 8, 89)
    assert os.path.islink(home / "lib64" / "libcudart.so.11.0")
    out = subprocess.run([str(home / "bin" / "nvcc"), "--version"], capture_output=True, text=True).stdout
    assert "Cuda compilation tools, release 11.8, V11.8.89" in out
    assert subprocess.run([str(home / "bin" / "nvcc"), "-c", "x.cu"], capture_output=True).returncode != 0

    probe = "import mindspore as ms; ms.hal.is_available('GPU')"
    env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    env.update(GLOG_v="2", CUDA_HOME=str(home))
    log = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert "libmindspore_gpu.so.11.6" in log.stdout + log.stderr, (log.stdout + log.stderr)[-2000:]
    plugins = gpu_plugins()
    assert os.path.basename(select_plugin((11, 8), plugins)) == "libmindspore_gpu.so.11.6"
    assert select_plugin((12, 4), plugins) is None and select_plugin((11, 0), plugins) is None

    env["CUDA_HOME"] = str(_nvcc(tmp_path / "cuda-12.4", "12.4").parent.parent)
    log = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert "can not find suitable gpu plugin" in log.stdout + log.stderr


def test_setup_gpu_dry_run_prints_the_pinned_install_and_checks(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    env["DRY_RUN"] = "1"
    p = subprocess.run(["bash", os.path.join(ROOT, "scripts", "setup.sh"), "--gpu"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    out = p.stdout + p.stderr
    pins = [ln.strip() for ln in open(os.path.join(ROOT, "requirements-gpu.txt")) if ln.strip()
            and not ln.startswith("#")]
    assert len(pins) == 8 and "nvidia-cudnn-cu11==8.9.6.50" in pins
    would = [ln for ln in out.splitlines() if "DRY_RUN: would run:" in ln]
    assert len(would) == 1 and all(pin in would[0] for pin in pins), out[-2000:]
    assert "python -m common.doctor --require GPU" in out
    assert not os.path.exists(os.path.join(ROOT, ".venv", "cuda11"))  # nothing made in a dry run
    # no GPU here: the check fails with its reason (a GPU box without the wheels: the CUDA line)
    assert p.returncode == 2 and "error: GPU is not usable here" in out


def test_doctor_names_the_reason_per_device(gpu_box):
    p = subprocess.run([sys.executable, "-m", "common.doctor"], cwd=ROOT, env=gpu_box["env"], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    gpu = next(ln for ln in lines if ln.startswith("GPU: "))
    assert gpu.startswith("GPU: not usable: CUDA is not set up") and "setup.sh --gpu" in gpu
    assert any(ln.startswith("Ascend: not usable: no Ascend NPU visible") for ln in lines)
    assert "CPU: usable" in lines
    assert any(ln.startswith("device_target auto: stops: an NVIDIA GPU is visible") for ln in lines)


def test_ort_providers_choice():
    import onnxruntime as ort

    from common.core.env import ort_providers
    from common.core.errors import FaceIdError

    have = ort.get_available_providers()
    auto = ort_providers("auto")
    assert auto[-1] == "CPUExecutionProvider" and all(p in have for p in auto)
    assert ort_providers("cpu") == ["CPUExecutionProvider"]
    with pytest.raises(FaceIdError, match="unknown provider cuda11"):
        ort_providers("cuda11,cpu")
    if "CUDAExecutionProvider" not in have:
        with pytest.raises(FaceIdError, match="no CUDAExecutionProvider.*onnxruntime-gpu"):
            ort_providers("cuda,cpu")


def test_device_bench_stops_at_once_without_a_gpu(tmp_path):
    from common.core.doctor import visible_gpus

    env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    if visible_gpus(env):
        pytest.skip("this machine shows an NVIDIA GPU: bench/device_run.sh would run the benchmark")
    out = tmp_path / "bench_out"
    p = subprocess.run(["bash", os.path.join(ROOT, "bench", "device_run.sh")], env=dict(env, OUT=str(out)),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 3 and p.stdout == ""
    assert p.stderr.startswith("error: bench/device_run.sh needs an NVIDIA GPU") and p.stderr.count("\n") == 1
    assert not out.exists()  # nothing installed, nothing written
