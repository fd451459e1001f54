"""Interruptions of a real training subprocess (tiny LightCNN, 2 epochs of 8 steps):

SIGINT finishes the step, writes a checkpoint, prints one line and exits 130; a re-run at --max_steps trains
nothing; SIGTERM exits 143 the same way; the resumed pieces give bit-identical losses to an uninterrupted run.
The forked data workers die with their parent, also after a kill -9 of it.
"""
import glob
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import PY, ROOT, lightcnn_tiny_args, make_data

STEPS = 8  # per epoch: 32 images / batch 4
SEED_LINE = re.compile(r"^epoch: (\d+) step: (\d+), loss is (\S+)$", re.M)


@pytest.fixture(scope="module")
def train_root(tmp_path_factory):
    train, _ = make_data(tmp_path_factory.mktemp("intr"), train_ids=4, train_images=8, test_ids=20, test_images=2,
                         pairs_per_fold=1)
    return train


def _args(out, train, **over):
    common = dict(epochs=2, batch_size=4, dropout=0.0, optimizer="sgd", lr=0.01, save_every_steps=0, keep_ckpt=20,
                  workers=2, warmup_epochs=0)
    common.update(over)
    return [PY, os.path.join(ROOT, "lightcnn", "train.py")] + lightcnn_tiny_args(out, train, **common)


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _start(args):
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT)


def _wait_for_step(p, lines, k):
    """Read stdout until the k-th seed loss line of this process (kept in ``lines``)."""
    seen = 0
    for line in p.stdout:
        lines.append(line)
        if SEED_LINE.match(line.rstrip("\n")):
            seen += 1
            if seen >= k:
                return
    raise AssertionError("training ended before step %d:\n%s" % (k, "".join(lines)[-2000:]))


def _finish(p, lines, timeout=120):
    out, err = p.communicate(timeout=timeout)
    lines.append(out)
    return "".join(lines), err


def _losses(text):
    return {(int(e) - 1) * STEPS + int(s): v for e, s, v in SEED_LINE.findall(text)}


def _children(pid):
    kids = set()
    for f in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            kids |= {int(x) for x in open(f).read().split()}
        except OSError:
            pass
    return kids


def _running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _interrupted_line(err, code_name):
    lines = [l for l in err.splitlines() if l.strip()]
    assert "Traceback" not in err, err[-3000:]
    assert lines, err
    m = re.match(r"^interrupted at step (\d+); checkpoint (\S+); resume with (.+ --resume true)$", lines[-1])
    assert m, (code_name, err[-2000:])
    assert len([l for l in lines if l.startswith(("interrupted", "error:"))]) == 1, err[-2000:]
    return int(m.group(1)), m.group(2)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_sigint_sigterm_kill9_resume_bit_identical(train_root, tmp_path):
    ref_p = _start(_args(tmp_path / "ref", train_root))  # the uninterrupted run, alongside
    run = tmp_path / "run"
    texts = []

    # 1. SIGINT after the 3rd step: finishes the step it is in, checkpoint, one line, 130
    p, lines = _start(_args(run, train_root)), []
    _wait_for_step(p, lines, 3)
    p.send_signal(signal.SIGINT)
    out, err = _finish(p, lines)
    assert p.returncode == 130, (p.returncode, err[-2000:])
    step, ckpt = _interrupted_line(err, "SIGINT")
    assert step >= 3 and os.path.isfile(ckpt) and ckpt.endswith(f"-s{step}.ckpt")
    assert max(_losses(out)) == step
    texts.append(out)

    # 2. --max_steps at the step reached: says so, trains nothing, writes nothing
    before = sorted(os.listdir(run / "ckpt"))
    q = subprocess.run(_args(run, train_root, resume="true", max_steps=step), capture_output=True, text=True,
                       env=_env(), cwd=ROOT, timeout=120)
    assert q.returncode == 0, q.stderr[-2000:]
    assert f"already at step {step} (max_steps {step}): nothing to train" in q.stdout
    assert not _losses(q.stdout) and sorted(os.listdir(run / "ckpt")) == before

    # 3. resume, SIGTERM a few steps later: 143, same line
    p, lines = _start(_args(run, train_root, resume="true")), []
    _wait_for_step(p, lines, 3)
    p.send_signal(signal.SIGTERM)
    out, err = _finish(p, lines)
    assert p.returncode == 143, (p.returncode, err[-2000:])
    step2, ckpt2 = _interrupted_line(err, "SIGTERM")
    assert step2 > step and os.path.isfile(ckpt2)
    texts.append(out)

    # 4. resume to the end; every loss printed on the way equals the uninterrupted run's, bit for bit
    q = subprocess.run(_args(run, train_root, resume="true"), capture_output=True, text=True, env=_env(), cwd=ROOT,
                       timeout=180)
    assert q.returncode == 0, q.stderr[-2000:]
    texts.append(q.stdout)
    ref_out, ref_err = ref_p.communicate(timeout=180)
    assert ref_p.returncode == 0, ref_err[-2000:]
    ref = _losses(ref_out)
    assert sorted(ref) == list(range(1, 2 * STEPS + 1))
    got = {}
    for text in texts:
        for k, v in _losses(text).items():
            assert v == ref[k], (k, v, ref[k])  # also the steps that were run twice
            got[k] = v
    assert got == ref
    assert not os.path.exists(run / ".train.lock")  # the finished run released its lock


WORKERS = """
import sys, time
import numpy as np
from common.data.dataset import BadImages, EpochBatches

class Slow:
    bad = BadImages(quiet=True)
    def __len__(self):
        return 4000
    def __getitem__(self, k):
        time.sleep(0.01)
        return np.zeros((1, 4, 4), np.float32), 0

for _ in EpochBatches(Slow(), 4, workers=2, processes=True):
    print("batch", flush=True)
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task") or len(os.sched_getaffinity(0)) < 2,
                    reason="forked workers need Linux and 2+ cores")
def test_data_workers_die_with_their_parent_after_kill_9():
    p = subprocess.Popen([sys.executable, "-c", WORKERS], stdout=subprocess.PIPE, text=True, env=_env(), cwd=ROOT)
    try:
        for _ in range(3):
            p.stdout.readline()
        kids = _children(p.pid)
        assert len(kids) == 2, kids
    finally:
        p.kill()
        p.wait(timeout=30)  # not communicate(): orphaned workers would keep the pipe open
    deadline = time.time() + 3.0
    while time.time() < deadline and any(_running(k) for k in kids):
        time.sleep(0.05)
    alive = [k for k in kids if _running(k)]
    for k in alive:  # do not leave them behind when the check fails
        os.kill(k, signal.SIGKILL)
    assert not alive, "data workers outlived a kill -9 of their parent"
