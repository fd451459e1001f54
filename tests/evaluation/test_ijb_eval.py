"""IJB eval target (common.evaluation.ijb): crops aligned from the GIVEN landmarks (checked against an independent
least-squares similarity + cv2.warpAffine), the resumable chunk cache, and a model's eval.py --ijb_dir end to end
whose saved embeddings ``python -m common.evaluate --protocol ijb`` scores back to the same numbers."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from common.core.errors import FaceIdError
from common.data.synthetic_ijb import generate
from common.data.transforms import Preprocess
from common.evaluation import ijb as ijb_eval
from common.protocols import ijb
from tests.helpers import ROOT, TINY_BB, TINY_PRE

PRE = Preprocess.from_config({"channels": 1, "resize": 36, "crop": 32, "mean": 127.5, "std": 128.0})


@pytest.fixture(scope="module")
def ijbdir(tmp_path_factory):
    out = tmp_path_factory.mktemp("ijbc")
    generate(str(out), "IJBC", subjects=6, templates=2, media=2, frames=2, outsiders=1, size=72, seed=1,
             log=lambda *_: None)
    return out


def _similarity_lstsq(src, dst):
    """Least-squares similarity x' = a x - b y + tx, y' = b x + a y + ty (no reflection), by linear lstsq."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows += [[x, -y, 1, 0], [y, x, 0, 1]]
        rhs += [u, v]
    a, b, tx, ty = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]
    return np.array([[a, -b, tx], [b, a, ty]])


def test_crops_are_aligned_from_the_given_landmarks(ijbdir):
    from common.align.templates import TEMPLATES

    meta = ijb.Meta(str(ijbdir / "meta"), "IJBC")
    for name in ("lightcnn144", "arcface112"):
        t = TEMPLATES[name]
        adapter = ijb_eval.LandmarkAlign(Preprocess.from_config({"channels": t.channels, "crop": list(t.size)}),
                                         name)
        for i in (0, 5, len(meta) - 1):
            got = adapter.crop(str(ijbdir / "loose_crop" / meta.names[i]), meta.landmarks[i]).astype(np.float64)
            rgb = cv2.cvtColor(cv2.imread(str(ijbdir / "loose_crop" / meta.names[i])), cv2.COLOR_BGR2RGB)
            m = _similarity_lstsq(meta.landmarks[i], t.points)
            want = cv2.warpAffine(rgb, m, (t.size[1], t.size[0]), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
            if t.channels == 1:
                want = cv2.cvtColor(want, cv2.COLOR_RGB2GRAY)[:, :, None]
            assert got.shape == want.shape
            diff = np.abs(got - want)
            assert diff.mean() < 0.6 and np.percentile(diff, 99) <= 3, (name, i, diff.mean())  # JPEG decoders


class FakeNet:
    """A fixed random projection of the network input, counting the images it sees; dies on request."""

    def __init__(self, die_after=None):
        self.w = np.random.default_rng(0).normal(size=(32 * 32, 8)).astype(np.float32)
        self.images, self.die_after = 0, die_after

    def __call__(self, x):
        if self.die_after is not None and self.images >= self.die_after:
            raise KeyboardInterrupt("killed")
        self.images += x.shape[0]
        return x.reshape(x.shape[0], -1) @ self.w


def test_cache_resumes_a_run_that_died_and_refuses_another_setting(ijbdir, tmp_path, monkeypatch):
    monkeypatch.setattr(ijb_eval, "CHUNK", 8)
    meta = ijb.Meta(str(ijbdir / "meta"), "IJBC")
    n = len(meta)
    clean = ijb_eval.ijb_set(FakeNet(), PRE, str(ijbdir), "IJBC", batch_size=4, flip=True, template="lightcnn144",
                             log=lambda *_: None)
    stem = str(tmp_path / "eval" / "ijbc.ijb")
    dying = FakeNet(die_after=36)            # dies inside the 3rd chunk (8 images each, batches of 4, with flips)
    with pytest.raises(KeyboardInterrupt):
        ijb_eval.ijb_set(dying, PRE, str(ijbdir), "IJBC", batch_size=4, flip=True, template="lightcnn144",
                         embeddings_out=stem, log=lambda *_: None, extra={"model": "fake"})
    chunks = sorted(os.listdir(stem + "_cache"))
    assert chunks[:2] == ["chunk_00000.npz", "chunk_00001.npz"] and "manifest.json" in chunks
    again = FakeNet()
    lines = []
    res = ijb_eval.ijb_set(again, PRE, str(ijbdir), "IJBC", batch_size=4, flip=True, template="lightcnn144",
                           embeddings_out=stem, log=lines.append, extra={"model": "fake"})
    rest = [min(8, n - a) for a in range(16, n, 8)]         # only the chunks after the two finished ones
    assert again.images == 2 * sum(4 * -(-k // 4) for k in rest)   # (batches padded to 4, and their flips)
    assert any("(16 from cache)" in line for line in lines)
    for key in ("tar_at_far", "rank1", "rank5", "tpir_at_fpir", "auc"):
        assert res[key] == clean[key], key
    assert not os.path.exists(stem + "_cache")     # removed once the full embeddings are written
    assert np.load(stem + "_embeddings.npy").shape == (n, 8)
    # a cache left by another setting is refused, naming the folder
    with pytest.raises(KeyboardInterrupt):
        ijb_eval.ijb_set(FakeNet(die_after=8), PRE, str(ijbdir), "IJBC", batch_size=4, flip=True,
                         template="lightcnn144", embeddings_out=stem, log=lambda *_: None, extra={"model": "fake"})
    with pytest.raises(FaceIdError, match="cache written by another run .*template"):
        ijb_eval.ijb_set(FakeNet(), PRE, str(ijbdir), "IJBC", batch_size=4, flip=True, template="arcface112",
                         embeddings_out=stem, log=lambda *_: None, extra={"model": "fake"})


def test_box_template_has_a_5_point_equivalent_and_missing_image_refused_before_work(ijbdir, tmp_path):
    from common.align.templates import TEMPLATES

    t = ijb_eval.landmark_template("facenet160")        # the box of facenet160 is the face of facenet160_5pt
    np.testing.assert_allclose(t.points, TEMPLATES["facenet160_5pt"].points, atol=1e-9)
    t = ijb_eval.landmark_template("facenet182")        # 182 crop, margin 44: a 138 px box about the centre
    eyes = np.linalg.norm(t.points[1] - t.points[0])
    assert t.size == (182, 182) and eyes == pytest.approx(
        np.linalg.norm(TEMPLATES["facenet160_5pt"].points[1] - TEMPLATES["facenet160_5pt"].points[0]) * 138 / 128)
    with pytest.raises(FaceIdError, match="unknown alignment template"):
        ijb_eval.landmark_template("nosuch")
    other = tmp_path / "copy"
    os.makedirs(other / "loose_crop")
    os.symlink(ijbdir / "meta", other / "meta")
    net = FakeNet()
    with pytest.raises(FaceIdError, match="missing under"):
        ijb_eval.ijb_set(net, PRE, str(other), "IJBC", template="lightcnn144", log=lambda *_: None)
    assert net.images == 0


def _run(args, cwd):
    return subprocess.run([sys.executable] + [str(a) for a in args], cwd=str(cwd), capture_output=True, text=True)


def test_model_eval_ijb_dir_end_to_end(ijbdir, tmp_path):
    p = _run([os.path.join(ROOT, "lightcnn", "eval.py"), "--config", os.path.join(ROOT, "lightcnn", "configs",
              "demo.yaml"), "--preprocess", TINY_PRE, "--backbone_args", TINY_BB, "--ijb_dir", ijbdir,
              "--out_dir", tmp_path, "--save_embeddings", "true", "--eval_batch_size", "16"], cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-1500:] + p.stderr[-2000:]
    assert "ijbc.ijb" in p.stdout and "TAR@1e-4" in p.stdout
    ev = tmp_path / "eval"
    res = json.loads((ev / "ijbc.ijb_result.json").read_text())
    assert res["protocol"] == "ijb" and res["options"]["flip"] is True and res["options"]["template"] == "lightcnn144"
    assert (ev / "ijbc.ijb_result_roc.png").is_file()
    out = tmp_path / "again.json"
    q = _run(["-m", "common.evaluate", "--protocol", "ijb", "--target", "IJBC", "--meta", ijbdir / "meta",
              "--embeddings", ev / "ijbc.ijb_embeddings.npy", "--flip_embeddings", ev / "ijbc.ijb_flip_embeddings.npy",
              "--out", out], cwd=ROOT)
    assert q.returncode == 0, q.stderr[-2000:]
    again = json.loads(out.read_text())
    for key in ("tar_at_far", "rank1", "rank5", "rank10", "tpir_at_fpir", "auc"):
        assert again[key] == res[key], key
    # a bad --ijb_target is one line before any work
    r = _run([os.path.join(ROOT, "lightcnn", "eval.py"), "--config", os.path.join(ROOT, "lightcnn", "configs",
              "demo.yaml"), "--ijb_dir", ijbdir, "--ijb_target", "IJBB", "--out_dir", tmp_path / "x"], cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "ijbb_face_tid_mid.txt is missing" in r.stderr
