"""The eval front door: result names never collide, --save_embeddings round-trips through common.evaluation.scoring, an
untrained eval says so, an output equal to an input is refused, PFE templates are fused and scored set to set."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from common.protocols import binsets
from tests.helpers import ROOT, TINY_BB, TINY_PRE, make_data

LC_DEMO = os.path.join(ROOT, "lightcnn", "configs", "demo.yaml")
PFE_DEMO = os.path.join(ROOT, "pfe", "configs", "demo.yaml")
PFE_TINY = ["--backbone", "spherenet20", "--backbone_args", "{embedding_size: 16, widths: [4, 8, 8, 8]}"]


def _run(args, cwd):
    p = subprocess.run([sys.executable] + [str(a) for a in args], cwd=str(cwd), capture_output=True, text=True)
    return p


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("fd")
    make_data(out / "data", train_ids=4, train_images=4, test_ids=20, test_images=4, size=40, pairs_per_fold=4)
    # a .bin named like the folder (lfw): both results must survive, with different names
    import cv2
    from common.protocols import lfw

    pairs = lfw.read_pairs(str(out / "data" / "test" / "pairs.txt"))
    imgs, same = [], []
    for a, b, s in zip(pairs.first, pairs.second, pairs.issame):
        for n in (a, b):
            ok, buf = cv2.imencode(".jpg", cv2.imread(str(out / "data" / "test" / n)))
            imgs.append(buf.tobytes())
        same.append(bool(s))
    (out / "bins").mkdir()
    binsets.write_bin(str(out / "bins" / "lfw.bin"), imgs, same)
    os.symlink(out / "data" / "test", out / "lfw")
    return out


def test_untrained_warning_no_collision_and_saved_embeddings_round_trip(data, tmp_path):
    p = _run([os.path.join(ROOT, "lightcnn", "eval.py"), "--config", LC_DEMO, "--preprocess", TINY_PRE,
              "--backbone_args", TINY_BB, "--data_root", data / "lfw", "--bin_dir", data / "bins", "--targets", "lfw",
              "--out_dir", tmp_path, "--save_embeddings", "true", "--flip", "false", "--eval_batch_size", "16"],
             cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "WARNING: no --ckpt_file: scoring an UNTRAINED network" in p.stdout
    ev = tmp_path / "eval"
    for stem in ("lfw.bin", "lfw.lfw"):  # same name 'lfw', two results, two files, both rows in the table
        assert (ev / f"{stem}_result.json").is_file() and (ev / f"{stem}_result_roc.png").is_file()
        assert stem in p.stdout
    folder = json.loads((ev / "lfw.lfw_result.json").read_text())
    assert folder["checkpoint"] is None and folder["flip"] is False
    # the saved embeddings, scored again by the standalone tool, give the same numbers
    out = tmp_path / "again.json"
    q = _run(["-m", "common.evaluate", "--protocol", "lfw", "--embeddings", ev / "lfw.lfw_embeddings.npy",
              "--list", ev / "lfw.lfw_images.txt", "--pairs", data / "data" / "test" / "pairs.txt", "--out", out],
             cwd=tmp_path)
    assert q.returncode == 0, q.stderr[-2000:]
    again = json.loads(out.read_text())
    for key in ("accuracy_mean", "auc", "100%-EER"):
        assert again[key] == pytest.approx(folder[key], abs=1e-9), key
    binr = json.loads((ev / "lfw.bin_result.json").read_text())
    out = tmp_path / "again_bin.json"
    q = _run(["-m", "common.evaluate", "--protocol", "bin", "--embeddings", ev / "lfw.bin_embeddings.npy",
              "--flip_embeddings", ev / "lfw.bin_flip_embeddings.npy", "--pairs", data / "bins" / "lfw.bin",
              "--out", out], cwd=tmp_path)
    assert q.returncode == 0, q.stderr[-2000:]
    again = json.loads(out.read_text())
    assert again["accuracy_flip"]["accuracy_mean"] == pytest.approx(binr["accuracy_flip"]["accuracy_mean"])


def test_output_equal_to_an_input_is_refused_before_work(data, tmp_path):
    pairs = tmp_path / "pairs.txt"
    pairs.write_bytes((data / "data" / "test" / "pairs.txt").read_bytes())
    before = pairs.read_bytes()
    # --out_dir such that the result file would be the pairs file itself
    (tmp_path / "eval").mkdir()
    target = tmp_path / "eval" / "lfw.lfw_result.json"
    os.symlink(pairs, target)
    p = _run([os.path.join(ROOT, "lightcnn", "eval.py"), "--config", LC_DEMO, "--preprocess", TINY_PRE,
              "--backbone_args", TINY_BB, "--data_root", data / "lfw", "--pairs", pairs, "--out_dir", tmp_path],
             cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith("error: ") and "input" in p.stderr
    assert pairs.read_bytes() == before


def test_pfe_templates_fused_and_scored_set_to_set(data, tmp_path):
    from sklearn.metrics import roc_auc_score

    p = _run([os.path.join(ROOT, "pfe", "eval.py"), "--config", PFE_DEMO, *PFE_TINY, "--templates",
              data / "data" / "test", "--out_dir", tmp_path, "--save_embeddings", "true", "--graph_mode", "false"],
             cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-1500:] + p.stderr[-2000:]
    assert "PFE templates    mls" in p.stdout
    stem = tmp_path / "eval" / "test.templates"
    result = json.loads(open(f"{stem}_result.json").read())
    rows = np.load(f"{stem}_embeddings.npy")
    names = open(f"{stem}_images.txt").read().split()
    d = rows.shape[1] // 2
    mu, sig = rows[:, :d].astype(np.float64), rows[:, d:].astype(np.float64)
    # independent: each identity's sorted images split in halves; fuse by hand; score every pair of templates
    templates = {}
    for i, n in enumerate(names):
        ident = os.path.basename(os.path.dirname(n))
        templates.setdefault(ident, []).append(i)
    fused, subj = [], []
    for ident in sorted(templates):
        idx = templates[ident]
        for part in (idx[: len(idx) // 2], idx[len(idx) // 2:]):
            prec = 1.0 / sig[part]
            fused.append(((mu[part] * prec).sum(0) / prec.sum(0), 1.0 / prec.sum(0)))
            subj.append(ident)
    scores_mls, scores_cos, same = [], [], []
    for a in range(len(fused)):
        for b in range(a + 1, len(fused)):
            (m1, s1), (m2, s2) = fused[a], fused[b]
            scores_mls.append(-np.sum((m1 - m2) ** 2 / (s1 + s2) + np.log(s1 + s2)))
            scores_cos.append(m1 @ m2 / np.linalg.norm(m1) / np.linalg.norm(m2))
            same.append(subj[a] == subj[b])
    assert result["templates"] == len(fused) and result["pairs"] == len(same)
    assert result["mls"]["auc"] == pytest.approx(roc_auc_score(same, scores_mls), abs=1e-6)
    assert result["cosine"]["auc"] == pytest.approx(roc_auc_score(same, scores_cos), abs=1e-6)


def test_onnxruntime_backend_scores_like_mindspore(data, tmp_path):
    """--backend onnxruntime: the exported network (parity-checked first) gives the same result file numbers."""
    res = {}
    for backend in ("mindspore", "onnxruntime"):
        out = tmp_path / backend
        p = _run([os.path.join(ROOT, "lightcnn", "eval.py"), "--config", LC_DEMO, "--preprocess", TINY_PRE,
                  "--backbone_args", TINY_BB, "--data_root", data / "lfw", "--out_dir", out, "--backend", backend,
                  "--eval_batch_size", "16"], cwd=tmp_path)
        assert p.returncode == 0, p.stderr[-2000:]
        res[backend] = json.loads((out / "eval" / "lfw.lfw_result.json").read_text())
    assert "backend: onnxruntime" in p.stdout
    for key in ("accuracy_mean", "auc", "100%-EER"):
        assert res["onnxruntime"][key] == pytest.approx(res["mindspore"][key], abs=2e-3), key


def test_eval_on_raw_photos_with_align(tmp_path):
    """--align: real unaligned photos in an LFW layout are detected, aligned (recipe template) and scored."""
    import shutil

    raw = os.path.join(ROOT, "tests", "fixtures", "raw_photos")
    people = {"Obama": ["obama.jpg", "obama2.jpg"], "Lennon": ["lennon-1.jpg", "lennon-2.jpg"],
              "Clapton": ["clapton-1.jpg", "clapton-2.jpg"], "Biden": ["biden.jpg"], "Adams": ["adams.jpg"]}
    root = tmp_path / "lfw"
    for name, files in people.items():
        (root / name).mkdir(parents=True)
        for i, f in enumerate(files, 1):
            shutil.copy(os.path.join(raw, f), root / name / f"{name}_{i:04d}{os.path.splitext(f)[1]}")
    (root / "pairs.txt").write_text("2\t1\nObama\t1\t2\nObama\t1\tBiden\t1\nLennon\t1\t2\nClapton\t1\tAdams\t1\n")
    p = _run([os.path.join(ROOT, "lightcnn", "eval.py"), "--data_root", root, "--align", "true",
              "--out_dir", tmp_path / "out", "--eval_batch_size", "8"], cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-1500:] + p.stderr[-1500:]
    result = json.loads((tmp_path / "out" / "eval" / "lfw.lfw_result.json").read_text())
    assert result["align"] == "lightcnn144" and result["pairs"] == 4 and not result.get("unreadable_images")
