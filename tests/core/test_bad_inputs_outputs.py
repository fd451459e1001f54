"""Outputs checked before work: an --out_dir that is a file, a read-only one, a full disk, a busy folder (another
live training holds its lock), a stale lock of a killed run; pruning never removes the last good checkpoint."""
import os
import socket
import subprocess
import sys

import pytest

from common.core.errors import FaceIdError
from common.core.fileio import write_json_atomic
from common.core.paths import LOCK_NAME, RunLock, writable_dir, writable_file
from tests.helpers import PY, ROOT, lightcnn_tiny_args, make_data


@pytest.fixture(scope="module")
def train_root(tmp_path_factory):
    train, _ = make_data(tmp_path_factory.mktemp("outs"), train_ids=2, train_images=4, test_ids=20, test_images=2,
                         pairs_per_fold=1)
    return train


def _read_only_dir(tmp_path):
    """A folder this process cannot write into: chmod 555 (root ignores modes: then /sys, never writable)."""
    if os.geteuid() != 0:
        d = tmp_path / "ro"
        d.mkdir()
        d.chmod(0o555)
        return str(d)
    return "/sys"


def _one_error(p):
    assert "Traceback" not in p.stderr, p.stderr[-3000:]
    errors = [l for l in p.stderr.splitlines() if l.startswith("error: ")]
    assert p.returncode == 2 and len(errors) == 1, (p.returncode, p.stderr[-3000:])
    return errors[0]


def _train_cli(args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([PY, os.path.join(ROOT, "lightcnn", "train.py")] + args, capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


def test_probe_refuses_a_file_a_read_only_folder_and_a_full_disk(tmp_path, monkeypatch):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(FaceIdError, match=r"^--out_dir .*file: exists and is not a folder$"):
        writable_dir(str(f))
    with pytest.raises(FaceIdError, match=r"^--out_dir .*file/sub: a part of the path is a file"):
        writable_dir(str(f / "sub"))
    ro = _read_only_dir(tmp_path)
    with pytest.raises(FaceIdError, match=r"cannot write there \("):
        writable_dir(ro)
    with pytest.raises(FaceIdError, match=r"^--out .*: is an existing folder; give a file name$"):
        writable_file(str(tmp_path), "--out")
    # a full disk: statvfs says 0 bytes left
    real = os.statvfs

    class Full:
        def __init__(self, st):
            self.f_bavail, self.f_frsize = 0, st.f_frsize

    monkeypatch.setattr(os, "statvfs", lambda p: Full(real(p)))
    with pytest.raises(FaceIdError, match=r"no space left \(0 bytes free\)"):
        writable_dir(str(tmp_path / "ok"))
    assert not [n for n in os.listdir(tmp_path / "ok") if n.startswith(".probe-")]


def test_a_write_failure_is_one_line_naming_the_path_and_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "res" / "result.json"
    import json

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(json, "dumps", lambda *a, **k: "x" * 100)
    real_fdopen = os.fdopen

    class Writer:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, text):
            full()

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: Writer(real_fdopen(fd, *a, **k)))
    with pytest.raises(FaceIdError, match=r"result.json: cannot write \(No space left on device\)$"):
        write_json_atomic(str(target), {"a": 1})
    assert os.listdir(tmp_path / "res") == []  # no temporary or partial file


def test_train_out_dir_that_is_a_file_or_read_only_is_one_line_before_any_work(tmp_path, train_root):
    f = tmp_path / "out_file"
    f.write_text("not a folder")
    line = _one_error(_train_cli(lightcnn_tiny_args(f, train_root, max_steps=1)))
    assert line == f"error: --out_dir {f}: exists and is not a folder"
    ro = _read_only_dir(tmp_path)
    line = _one_error(_train_cli(lightcnn_tiny_args(os.path.join(ro, "run"), train_root, max_steps=1)))
    assert line.startswith(f"error: --out_dir {os.path.join(ro, 'run')}: cannot ")


def test_eval_and_export_out_dir_that_is_a_file_before_any_embedding(tmp_path, train_root):
    from lightcnn import eval as lightcnn_eval
    from lightcnn import export as lightcnn_export

    f = tmp_path / "out_file"
    f.write_text("x")
    test = os.path.join(os.path.dirname(train_root), "test")
    with pytest.raises(FaceIdError, match=r"^--out_dir .*out_file: exists and is not a folder$"):
        lightcnn_eval.main(["--config", os.path.join(ROOT, "lightcnn", "configs", "demo.yaml"), "--data_root", test,
                            "--out_dir", str(f)])
    ckpt = tmp_path / "any.ckpt"
    ckpt.write_bytes(b"x")  # only its existence is checked before the output
    with pytest.raises(FaceIdError, match=r"^--out_dir .*out_file: exists and is not a folder$"):
        lightcnn_export.main(["--config", os.path.join(ROOT, "lightcnn", "configs", "demo.yaml"), "--ckpt_file",
                              str(ckpt), "--out_dir", str(f)])
    with pytest.raises(FaceIdError, match=r"^--file_name .*out_file/m: a part of the path is a file"):
        lightcnn_export.main(["--config", os.path.join(ROOT, "lightcnn", "configs", "demo.yaml"), "--ckpt_file",
                              str(ckpt), "--file_name", str(f / "m" / "net")])


def _lock(folder, pid, started="2026-01-01 00:00:00"):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, LOCK_NAME), "w") as fh:
        fh.write(f"pid {pid}\nhost {socket.gethostname()}\nstarted {started}\ncommand train.py\n")


def test_a_busy_out_dir_stops_in_one_line_naming_the_other_process(tmp_path, train_root):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        out = tmp_path / "busy"
        _lock(out, other.pid, "2026-12-01 10:00:00")
        line = _one_error(_train_cli(lightcnn_tiny_args(out, train_root, max_steps=1)))
        assert (f"is in use by another training run (pid {other.pid} on host {socket.gethostname()}, "
                f"started 2026-12-01 10:00:00" in line), line
        assert not os.path.exists(out / "config.yaml") and not os.path.exists(out / "ckpt" / "x")
        assert not (out / "logs").exists()  # nothing of this run written into the other's folder
    finally:
        other.kill()
        other.wait()


def test_a_stale_lock_of_a_dead_process_is_taken_over_and_said(tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = tmp_path / "stale"
    _lock(folder, dead.pid)
    said = []
    lock = RunLock(str(folder)).acquire(printer=said.append)
    assert len(said) == 1 and f"took over the stale lock of process {dead.pid}" in said[0]
    assert lock.read()["pid"] == str(os.getpid())
    lock.release()
    assert not (folder / LOCK_NAME).exists()


def test_pruning_never_removes_the_checkpoint_just_called_the_last_good_one(tmp_path):
    from common.nets import BACKBONES
    from common.train.checkpoint import CheckpointManager
    import lightcnn.src.lightcnn  # noqa: F401  (registers lightcnn9)

    net = BACKBONES.create("lightcnn9", input_size=(1, 32, 32))
    other = CheckpointManager(str(tmp_path), "m", keep=1)
    other.save(net, 0, 8, 8, 10)  # a longer earlier run left step 8 here
    mine = CheckpointManager(str(tmp_path), "m", keep=1)
    path = mine.save(net, 0, 6, 6, 10)  # this run (resumed from an older one) writes step 6: its last good one
    assert os.path.isfile(path), "the checkpoint just written was pruned"
    assert [os.path.basename(p) for p in mine.list()] == ["m-e0-s6.ckpt"]
