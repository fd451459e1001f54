"""Shared test utilities: tiny synthetic data and tiny LightCNN configs."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
TINY_PRE = "{channels: 1, resize: 36, crop: 32, mean: 127.5, std: 128.0, flip: true}"
TINY_BB = "{input_size: [1, 32, 32]}"  # LightCNN built for the 32x32 TINY_PRE crop


def make_data(out, train_ids=6, train_images=6, test_ids=20, test_images=6, size=40, seed=0, pairs_per_fold=10):
    from common.data.synthetic import generate

    return generate(str(out), train_ids, train_images, test_ids, test_images, size, seed, pairs_per_fold,
                    log=lambda *_: None)


def run(args, cwd=None, env=None, check=True):
    """Run a command; returns CompletedProcess with text output. ``check`` raises with the output on failure."""
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run(args, cwd=cwd, env=e, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def lightcnn_tiny_args(out_dir, train_root, **over):
    args = ["--config", os.path.join(ROOT, "lightcnn", "configs", "demo.yaml"), "--train_root", str(train_root),
            "--out_dir", str(out_dir), "--preprocess", TINY_PRE, "--backbone_args", TINY_BB, "--backbone_args", TINY_BB, "--batch_size", "8", "--epochs", "1",
            "--log_every", "1", "--workers", "1"]
    for k, v in over.items():
        args += [f"--{k}", str(v)]
    return args
