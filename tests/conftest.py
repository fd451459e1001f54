"""Test set-up: repository root importable, CPU speed default before mindspore loads."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import common.core.env  # noqa: E402,F401  (sets ONEDNN_MAX_CPU_ISA before any test imports mindspore)

SHARED = os.path.join(os.path.dirname(ROOT), "shared")
FIXTURES = os.path.join(SHARED, "fixtures")


@pytest.fixture(scope="session")
def harness():
    """Build ascend310_infer (faceid_infer / faceid_convert), fetching MindSpore Lite on first use; the build dir.

    Skips with the reason where cmake / g++ are missing or MindSpore Lite cannot be installed."""
    for tool in ("cmake", "g++"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed: cannot build ascend310_infer")
    run = subprocess.run(["bash", os.path.join(ROOT, "ascend310_infer", "build.sh")],
                         capture_output=True, text=True, env=dict(os.environ, GLOG_v="3"))
    if run.returncode != 0:
        lite = os.path.join(ROOT, "ascend310_infer", "third_party", "mindspore_lite", ".faceid_installed")
        if not os.path.exists(lite):
            pytest.skip("MindSpore Lite could not be installed: " + (run.stderr.strip().splitlines() or ["?"])[-1])
        pytest.fail("ascend310_infer build failed:\n" + run.stdout[-2000:] + run.stderr[-2000:])
    return os.path.join(ROOT, "ascend310_infer", "build")


# The longest test files (minutes each, from --durations) start first, so that with parallel test processes
# (scripts/test.sh, pytest-xdist --dist loadfile) none of them is left running alone at the end.
LONGEST_FIRST = ("test_facenet_train.py", "test_margin_train.py", "test_partial_fc.py", "test_seed_commands.py",
                 "test_head_parity.py", "test_margin_models.py", "test_pfe_train.py", "test_distributed_cpu.py",
                 "test_finetune.py", "test_onnx_route.py", "test_infer310_models.py", "test_align_mtcnn.py",
                 "test_launch_gpu_visible.py", "test_verification_distributed.py", "test_bad_inputs_interrupt.py",
                 "test_import_weights_torch.py", "test_device_setup.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(os.path.basename(str(item.fspath)), len(rank)))  # stable: order kept within
