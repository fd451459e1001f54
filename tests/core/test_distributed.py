"""Parallel set-up without training: launch environments, rank tables, launcher argument checks."""
import json
import os

import pytest

from common.core.errors import FaceIdError

from common.core import distributed
from tests.helpers import PY, ROOT, run

HCCL = os.path.join(ROOT, "scripts", "hccl_tools.py")


@pytest.mark.parametrize("env, expected", [
    ({}, ("standalone", 1, 0)),
    ({"RANK_SIZE": "1"}, ("standalone", 1, 0)),
    ({"RANK_TABLE_FILE": "/x/hccl.json", "RANK_SIZE": "8", "RANK_ID": "3", "DEVICE_ID": "3"}, ("rank_table", 8, 3)),
    ({"MS_ROLE": "MS_WORKER", "MS_WORKER_NUM": "2", "MS_NODE_ID": "1", "RANK_SIZE": "2", "RANK_ID": "1"},
     ("msrun", 2, 1)),
    ({"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "2"}, ("mpirun", 4, 2)),
])
def test_launch_info(env, expected):
    info = distributed.launch_info(env)
    assert (info["kind"], info["world"], info["rank"]) == expected
    assert distributed.launched_world_size(env) == expected[1]


@pytest.mark.parametrize("env, words", [
    ({"RANK_SIZE": "two"}, ["RANK_SIZE", "'two'"]),
    ({"RANK_SIZE": "2", "RANK_ID": "2"}, ["RANK_ID=2", "0..RANK_SIZE-1"]),
    ({"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "-1"}, ["OMPI_COMM_WORLD_RANK"]),
])
def test_launch_info_refuses_bad_values(env, words):
    with pytest.raises(FaceIdError) as exc:
        distributed.launch_info(env)
    assert "\n" not in str(exc.value) and all(w in str(exc.value) for w in words)


def test_rank_table_launch_checks(tmp_path):
    info = distributed.launch_info({"RANK_SIZE": "2", "RANK_ID": "0"})
    with pytest.raises(FaceIdError, match="needs RANK_TABLE_FILE"):
        distributed.check_launch("Ascend", info, {"RANK_SIZE": "2"})
    with pytest.raises(FaceIdError, match="run_distribute_train_cpu.sh"):
        distributed.check_launch("CPU", info, {"RANK_SIZE": "2"})
    missing = str(tmp_path / "nope.json")
    with pytest.raises(FaceIdError, match="nope.json: RANK_TABLE_FILE not found"):
        distributed.check_launch("Ascend", info, {"RANK_SIZE": "2", "RANK_TABLE_FILE": missing})
    # standalone needs no collective set-up (and does not import the communication package)
    assert distributed.init("CPU", {}) == (0, 1)


def test_lr_scale():
    assert distributed.lr_scale({"lr_scale_with_world": True}, 8) == 8.0
    assert distributed.lr_scale({"lr_scale_with_world": False}, 8) == 1.0
    assert distributed.lr_scale({}, 4) == 1.0


def test_debug_dump(tmp_path, monkeypatch):
    import numpy as np

    monkeypatch.delenv(distributed.DEBUG_ENV, raising=False)
    assert distributed.debug_dump("x", 0, np.arange(3)) is None
    monkeypatch.setenv(distributed.DEBUG_ENV, str(tmp_path / "dbg"))
    np.testing.assert_array_equal(np.load(distributed.debug_dump("x", 1, np.arange(3))), [0, 1, 2])
    z = np.load(distributed.debug_dump("w", 0, {"a.b": np.ones(2)}))
    assert z.files == ["a.b"]


def _write(tmp_path, devices="0-3", ips=None, name="hccl.json", server="10.0.0.1"):
    out = str(tmp_path / name)
    n = len(range(int(devices.split("-")[0]), int(devices.split("-")[1]) + 1)) if "-" in devices else \
        len(devices.split(","))
    ips = ips or ",".join(f"192.168.{i}.2" for i in range(n))
    run([PY, HCCL, "write", "--devices", devices, "--device_ips", ips, "--server_ip", server, "--out", out])
    return out


def test_write_rank_table_format(tmp_path):
    path = _write(tmp_path, "4-7")
    table = json.load(open(path))
    # the Ascend rank-table format 1.0, written out by hand
    assert table == {
        "version": "1.0", "server_count": "1", "status": "completed",
        "server_list": [{"server_id": "10.0.0.1", "host_nic_ip": "reserve", "device": [
            {"device_id": "4", "device_ip": "192.168.0.2", "rank_id": "0"},
            {"device_id": "5", "device_ip": "192.168.1.2", "rank_id": "1"},
            {"device_id": "6", "device_ip": "192.168.2.2", "rank_id": "2"},
            {"device_id": "7", "device_ip": "192.168.3.2", "rank_id": "3"}]}]}
    p = run([PY, HCCL, "validate", path, "--rank_size", "4"])
    assert p.stdout.split() == ["4", "5", "6", "7"]


def test_write_from_hccn_conf(tmp_path):
    conf = tmp_path / "hccn.conf"
    conf.write_text("".join(f"address_{i}=10.1.{i}.9\nnetmask_{i}=255.255.255.0\n" for i in range(8)))
    out = str(tmp_path / "t.json")
    run([PY, HCCL, "write", "--device_num", "[0,2)", "--hccn_conf", str(conf), "--server_ip", "10.0.0.5",
         "--out", out])
    devs = json.load(open(out))["server_list"][0]["device"]
    assert [(d["device_id"], d["device_ip"]) for d in devs] == [("0", "10.1.0.9"), ("1", "10.1.1.9")]
    p = run([PY, HCCL, "write", "--devices", "0-3", "--hccn_conf", str(tmp_path / "none.conf")], check=False)
    assert p.returncode == 1 and "none.conf: not found" in p.stderr


def _edit(path, fn):
    table = json.load(open(path))
    fn(table)
    json.dump(table, open(path, "w"))
    return path


def _devices(t):
    return t["server_list"][0]["device"]


BAD_TABLES = {
    "duplicate rank": (lambda t: _devices(t)[1].update(rank_id="0"), "duplicate rank_id 0"),
    "gap in ranks": (lambda t: _devices(t)[3].update(rank_id="5"), "without gaps, missing 3"),
    "duplicate device": (lambda t: _devices(t)[2].update(device_id="0"), "device_id 0 appears twice"),
    "bad ip": (lambda t: _devices(t)[0].update(device_ip="300.1.1.1"), "not an IPv4 address"),
    "missing key": (lambda t: _devices(t)[0].pop("device_ip"), "lacks device_ip"),
    "server_count": (lambda t: t.update(server_count="2"), "server_count is 2"),
    "status": (lambda t: t.update(status="initializing"), "status must be"),
    "version": (lambda t: t.update(version="2.0"), "version must be"),
}


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_validate_rejects_bad_tables(tmp_path, case):
    edit, words = BAD_TABLES[case]
    path = _edit(_write(tmp_path), edit)
    p = run([PY, HCCL, "validate", path], check=False)
    assert p.returncode == 1 and p.stdout == ""
    line = p.stderr.strip()
    assert "\n" not in line and line.startswith(f"error: {path}: ") and words in line, line


def test_validate_missing_malformed_and_mismatched(tmp_path):
    p = run([PY, HCCL, "validate", str(tmp_path / "absent.json")], check=False)
    assert p.returncode == 1 and "absent.json: rank table file not found" in p.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "1.0", "server_count": ')
    p = run([PY, HCCL, "validate", str(bad)], check=False)
    assert p.returncode == 1 and "bad.json: not valid JSON" in p.stderr
    p = run([PY, HCCL, "validate", _write(tmp_path), "--rank_size", "8"], check=False)
    assert p.returncode == 1 and "holds 4 device(s) but the launch asks for 8" in p.stderr


def _launch(script, args, tmp_path):
    """A launcher from another directory, in the foreground; nothing may start (no per-rank log)."""
    logs = tmp_path / "logs"
    p = run(["bash", os.path.join(ROOT, script)] + args, cwd=str(tmp_path), check=False,
            env={"FOREGROUND": "1", "LOG_DIR": str(logs)})
    assert p.returncode != 0
    assert not (logs.exists() and any(n.startswith(("rank_", "worker_")) for n in os.listdir(logs))), \
        "a training process was started"
    return p.stderr.strip()


def test_ascend_launchers_validate_before_starting(tmp_path):
    table4 = _write(tmp_path, "0-3")
    err = _launch("scripts/train_distribute_8p.sh", ["lightcnn", table4], tmp_path)
    assert "holds 4 device(s) but the launch asks for 8" in err and "hccl.json" in err
    err = _launch("lightcnn/scripts/train_distribute.sh", [table4, "2"], tmp_path)
    assert "holds 4 device(s) but the launch asks for 2" in err
    err = _launch("lightcnn/scripts/train_distribute.sh", [table4, "3"], tmp_path)
    assert "must be 2 or 4, got '3'" in err
    err = _launch("lightcnn/scripts/train_distribute_8p.sh", ["missing.json"], tmp_path)
    assert "missing.json: rank table file not found" in err
    dup = _edit(_write(tmp_path, "0-1", name="dup.json"), lambda t: _devices(t)[1].update(rank_id="0"))
    err = _launch("lightcnn/scripts/train_distribute.sh", [dup, "2"], tmp_path)
    assert err.endswith("duplicate rank_id 0")
    err = _launch("scripts/train_distribute.sh", ["nomodel", table4, "4"], tmp_path)
    assert "model folder 'nomodel' not found" in err


def test_msrun_launchers_check_arguments(tmp_path):
    assert "positive integer, got 'x'" in _launch("lightcnn/scripts/run_distribute_train_cpu.sh", ["x"], tmp_path)
    assert "positive integer, got '0'" in _launch("scripts/run_distribute_train_gpu.sh", ["lightcnn", "0"],
                                                  tmp_path)
    assert "usage:" in _launch("scripts/run_distribute_train_cpu.sh", ["lightcnn"], tmp_path)
