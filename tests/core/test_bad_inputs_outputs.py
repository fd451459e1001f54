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


# --- every tool's output option: probed before any work -----------------------------------------------------------

def _never(*a, **k):
    raise AssertionError("work was done before the output location was checked")


def _bad_locations(tmp_path):
    """(kind, path) of two outputs that cannot be made: under a file, and in a read-only folder."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    return [("under a file", str(blocker / "sub")), ("read-only", os.path.join(_read_only_dir(tmp_path), "faceid-out"))]


def _tree(root):
    return sorted(os.path.join(d, n) for d, dirs, files in os.walk(root) for n in dirs + files)


def _refused(main, argv, capsys, path, root):
    """``guard(main, argv)`` ends with exit 2 and exactly one ``error:`` line naming ``path``; nothing new under
    ``root`` (no partial file, no temporary) and nothing at ``path``."""
    from common.core.errors import guard

    before = _tree(root)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        guard(main, argv)
    out, err = capsys.readouterr()
    lines = [l for l in err.splitlines() if l.strip()]
    assert exc.value.code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (exc.value.code, err, out)
    assert os.path.abspath(path) in lines[0] or path in lines[0], lines[0]
    assert "Traceback" not in out + err
    assert _tree(root) == before and not os.path.exists(path)
    return lines[0]


def test_evaluate_out_is_probed_before_the_embeddings_are_read(tmp_path, capsys, monkeypatch):
    from common.evaluation import scoring

    emb, lst = tmp_path / "e.npy", tmp_path / "l.txt"
    emb.write_bytes(b"x")
    lst.write_text("a.jpg\n")
    monkeypatch.setattr(scoring, "_load_npy", _never)
    for kind, bad in _bad_locations(tmp_path):
        out = os.path.join(bad, "result.json")
        line = _refused(scoring.main, ["--protocol", "lfw", "--embeddings", str(emb), "--list", str(lst), "--out", out],
                        capsys, out, tmp_path)
        assert line.startswith(f"error: --out {out}: folder {bad}: "), (kind, line)


def test_compare_and_identify_out_dir_are_probed_before_the_model_loads(tmp_path, capsys, monkeypatch):
    from common.tools import compare, identify

    monkeypatch.setattr(compare, "embedder_of", _never)
    monkeypatch.setattr(identify, "embedder_of", _never)
    gallery = tmp_path / "gallery" / "alice"
    gallery.mkdir(parents=True)
    (gallery / "1.jpg").write_bytes(b"x")
    for kind, bad in _bad_locations(tmp_path):
        line = _refused(compare.main, ["a.jpg", "b.jpg", "--model", "lightcnn", "--out_dir", bad], capsys, bad,
                        tmp_path)
        assert line.startswith(f"error: --out_dir {bad}: "), (kind, line)
        line = _refused(identify.main, ["--model", "lightcnn", "--gallery", str(gallery.parent), "--probe", "p.jpg",
                                        "--out_dir", bad], capsys, bad, tmp_path)
        assert line.startswith(f"error: --out_dir {bad}: "), (kind, line)


def test_convert_zoo_ckpt_and_import_weights_outputs_are_probed_before_reading_the_source(tmp_path, capsys,
                                                                                         monkeypatch):
    from common.tools import convert_zoo_ckpt
    from common.tools.import_weights import cli

    monkeypatch.setattr(convert_zoo_ckpt, "read_old", _never)
    monkeypatch.setattr(cli, "convert", _never)
    src = tmp_path / "src.ckpt"
    src.write_bytes(b"x")
    for kind, bad in _bad_locations(tmp_path):
        out = os.path.join(bad, "net.ckpt")
        line = _refused(convert_zoo_ckpt.main, ["--model", "lightcnn9", "--in", str(src), "--out", out], capsys, out,
                        tmp_path)
        assert line.startswith(f"error: --out {out}: folder {bad}: "), (kind, line)
        line = _refused(cli.main, ["--from", "torch", "--arch", "iresnet50", "--in", str(src), "--out", out], capsys,
                        out, tmp_path)
        assert line.startswith(f"error: --out {out}: folder {bad}: "), (kind, line)
        line = _refused(cli.main, ["--from", "torch", "--arch", "iresnet50", "--in", str(src), "--out_dir", bad],
                        capsys, bad, tmp_path)
        assert line.startswith(f"error: --out_dir {bad}: parent "), (kind, line)


def test_infer310_preprocess_and_align_outputs_are_probed_before_any_image(tmp_path, capsys, monkeypatch):
    from common.align import tool
    from common.deploy import infer310

    monkeypatch.setattr(infer310, "preprocess_for_model", _never)
    monkeypatch.setattr(tool, "plan", _never)
    lst = tmp_path / "images.txt"
    lst.write_text("a.jpg\n")
    src = tmp_path / "photos"
    src.mkdir()
    for kind, bad in _bad_locations(tmp_path):
        line = _refused(infer310.main, ["preprocess", "--model", str(tmp_path / "m.onnx"), "--images", str(lst),
                                        "--out_dir", bad], capsys, bad, tmp_path)
        assert line.startswith(f"error: --out_dir {bad}: "), (kind, line)
        line = _refused(tool.main, [str(src), bad, "--template", "arcface112", "--quiet"], capsys, bad, tmp_path)
        assert line.startswith(f"error: DST {bad}: "), (kind, line)
        report = os.path.join(bad, "report.json")
        line = _refused(tool.main, [str(src), str(tmp_path / "aligned"), "--template", "arcface112", "--report",
                                    report, "--quiet"], capsys, report, tmp_path / "photos")
        assert line.startswith(f"error: --report {report}: folder {bad}: "), (kind, line)


def test_export_file_name_is_probed_before_the_network_is_built(tmp_path, capsys, monkeypatch):
    from common.flows import export as export_flow
    from lightcnn import export as lightcnn_export

    monkeypatch.setattr(export_flow, "prepare", _never)
    monkeypatch.setattr(export_flow, "export_checked", _never)
    ckpt = tmp_path / "any.ckpt"
    ckpt.write_bytes(b"x")
    for kind, bad in _bad_locations(tmp_path):
        name = os.path.join(bad, "net")
        line = _refused(lightcnn_export.main, ["--config", os.path.join(ROOT, "lightcnn", "configs", "demo.yaml"),
                                               "--ckpt_file", str(ckpt), "--file_name", name], capsys, bad, tmp_path)
        assert line.startswith(f"error: --file_name {bad}: "), (kind, line)


def test_a_tool_refusal_through_the_real_command_is_one_line_and_exit_2(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    src = tmp_path / "src.ckpt"
    src.write_bytes(b"x")
    out = os.path.join(_read_only_dir(tmp_path), "faceid-out", "net.ckpt")
    p = subprocess.run([PY, "-m", "common.convert_zoo_ckpt", "--model", "lightcnn9", "--in", str(src), "--out", out],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert _one_error(p).startswith(f"error: --out {out}: folder ")
    assert not os.path.exists(out)


def test_sharded_pruning_never_removes_the_checkpoint_just_called_the_last_good_one(tmp_path):
    import mindspore as ms
    import numpy as np
    from mindspore import nn

    from common.heads.shards import ShardedCheckpointManager, shard_path

    class Head(nn.Cell):
        def __init__(self, rows):
            super().__init__()
            self.weight = ms.Parameter(ms.Tensor(np.ones((rows, 2), np.float32)), name="weight")

    class Net(nn.Cell):
        def __init__(self):
            super().__init__()
            self.fc = nn.Dense(2, 2)
            self.head = Head(3)

    net = Net()
    world, d = 2, str(tmp_path)
    managers = [ShardedCheckpointManager(d, "m", 1, {"rank": r, "world": world, "class_start": 3 * r,
                                                      "class_count": 3, "num_classes": 6}) for r in range(world)]
    for m in managers:  # a longer earlier run left step 8 (main file + both shards)
        m.save(net, 0, 8, 8, 6)
    for m in managers:  # this run, resumed from an older state, writes step 6: its last good one
        path = m.save(net, 0, 6, 6, 6)
        assert os.path.isfile(shard_path(path, m.rank, world)), "the head shard just written was pruned"
    assert os.path.isfile(path), "the main checkpoint just written was pruned"
    assert sorted(os.listdir(d)) == ["m-e0-s6.ckpt", "m-e0-s6.head-0-of-2.ckpt", "m-e0-s6.head-1-of-2.ckpt"]
    for step in (9, 10):  # keep=2 afterwards: the newest two of every kind stay, in step order
        for m in managers:
            m.keep = 2
            m.save(net, 0, step, step, 6)
    assert sorted(os.listdir(d)) == ["m-e0-s10.ckpt", "m-e0-s10.head-0-of-2.ckpt", "m-e0-s10.head-1-of-2.ckpt",
                                     "m-e0-s9.ckpt", "m-e0-s9.head-0-of-2.ckpt", "m-e0-s9.head-1-of-2.ckpt"]
