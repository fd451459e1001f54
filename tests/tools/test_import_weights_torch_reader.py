"""The restricted PyTorch-file reader: hostile pickles are refused with one line and run nothing (no torch
needed); with torch, zip and legacy files, fp16 / bf16 / strided tensors and wrapper dicts read exactly."""
import collections
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from common.core.errors import FaceIdError
from common.tools.import_weights import torch_zip

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Hostile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def hostile_zip(path, marker):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"conv1.weight": Hostile(marker)}, protocol=2))
        zf.writestr("archive/version", "3\n")


def hostile_legacy(path, marker):
    with open(path, "wb") as f:
        for obj in (torch_zip.LEGACY_MAGIC, 1001, {"little_endian": True}, {"w": Hostile(marker)}, []):
            pickle.dump(obj, f, protocol=2)


@pytest.mark.parametrize("writer", [hostile_zip, hostile_legacy])
def test_hostile_pth_refused_and_nothing_runs(tmp_path, writer):
    marker = tmp_path / "PWNED"
    path = tmp_path / "backbone.pth"
    writer(path, marker)
    with pytest.raises(FaceIdError, match="refused"):
        torch_zip.load(str(path))
    assert not marker.exists()
    # the command line: one line on stderr naming the file, exit status 2, no output file, still nothing ran
    run = subprocess.run([sys.executable, "-m", "common.import_weights", "--from", "arcface_torch", "--arch",
                          "iresnet50", "--in", str(path), "--out", str(tmp_path / "out.ckpt")],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 2
    err = run.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and str(path) in err[0] and ".system" in err[0], err
    assert not marker.exists() and not (tmp_path / "out.ckpt").exists()


def test_not_a_torch_file(tmp_path):
    bad = tmp_path / "x.pth"
    bad.write_bytes(b"hello world, not a pickle")
    with pytest.raises(FaceIdError, match="x.pth"):
        torch_zip.load(str(bad))
    with pytest.raises(FaceIdError, match="not found"):
        torch_zip.load(str(tmp_path / "missing.pth"))


@pytest.mark.parametrize("zip_format", [True, False])
def test_tensors_read_exactly(tmp_path, zip_format):
    torch = pytest.importorskip("torch", reason="PyTorch is needed to write .pth files")
    g = torch.Generator().manual_seed(0)
    base = torch.randn(6, 5, generator=g)
    tensors = collections.OrderedDict([
        ("f32", torch.randn(3, 4, generator=g)), ("f16", torch.randn(7, generator=g).half()),
        ("bf16", torch.randn(2, 3, generator=g).bfloat16()), ("transposed", base.t()),
        ("sliced", base[1:4, 2:]), ("i64", torch.arange(5)), ("scalar", torch.tensor(2.5)),
        ("param", torch.nn.Parameter(torch.randn(2, 2, generator=g)))])
    path = tmp_path / "t.pth"
    torch.save({"model": tensors, "epoch": 3, "best": np.float64(0.5)}, path,
               _use_new_zipfile_serialization=zip_format)
    obj = torch_zip.load(str(path))
    for name, t in tensors.items():
        got = obj["model"][name]
        want = t.detach().float().numpy() if t.dtype == torch.bfloat16 else t.detach().numpy()
        assert got.shape == tuple(t.shape) and np.array_equal(got.astype(want.dtype), want), name
    assert obj["model"]["f16"].dtype == np.float16 and obj["epoch"] == 3 and obj["best"] == 0.5
    sd, notes = torch_zip.read_state_dict(str(path))
    assert list(sd) == list(tensors) and "model" in notes[0]
