"""common.evaluation.scoring end to end on temporary files: JSON + PNG written, numbers match independent formulas."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import scipy.io
from sklearn.metrics import roc_auc_score

from common.evaluation import scoring as evaluate
from common.core.errors import FaceIdError
from common.protocols import binsets, plots

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _lfw_files(tmp_path, seed=0):
    """2 folds x (5 same + 5 different) pairs over 6 people x 4 images; embeddings cluster by person."""
    rng = np.random.default_rng(seed)
    people = [f"P{i}" for i in range(6)]
    names = [f"{p}/{p}_{k:04d}.jpg" for p in people for k in range(1, 5)]
    lines = ["2\t5"]
    for _ in range(2):
        for _ in range(5):
            p = people[rng.integers(6)]
            a, b = rng.choice(np.arange(1, 5), 2, replace=False)
            lines.append(f"{p}\t{a}\t{b}")
        for _ in range(5):
            p, q = rng.choice(people, 2, replace=False)
            lines.append(f"{p}\t{rng.integers(1, 5)}\t{q}\t{rng.integers(1, 5)}")
    (tmp_path / "pairs.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "list.txt").write_text("".join(f"aligned/{n} {n.split('/')[0]}\n" for n in names))
    centers = rng.normal(size=(6, 16))
    emb = np.array([centers[int(n[1])] + rng.normal(size=16) for n in names], np.float32)
    np.save(tmp_path / "E.npy", emb)
    return names, emb, lines


def _cli(tmp_path, *args):
    out = str(tmp_path / "out" / "result.json")
    return evaluate.main([*args, "--out", out]), out


def _check_files(out):
    data = json.load(open(out))
    png = out[:-5] + "_roc.png"
    assert open(png, "rb").read(8) == PNG_MAGIC
    return data


def test_cli_lfw(tmp_path):
    names, emb, lines = _lfw_files(tmp_path)
    res, out = _cli(tmp_path, "--protocol", "lfw", "--embeddings", str(tmp_path / "E.npy"),
                    "--list", str(tmp_path / "list.txt"), "--pairs", str(tmp_path / "pairs.txt"))
    data = _check_files(out)
    assert data["pairs"] == 20 and data["images"] == 24 and data["embedding_dim"] == 16
    assert data["files"]["pairs"] == str(tmp_path / "pairs.txt") and os.path.isabs(data["files"]["list"])
    # independent cosine scores and AUC
    row = {n: i for i, n in enumerate(names)}
    scores, labels = [], []
    for ln in lines[1:]:
        f = ln.split("\t")
        a = f"{f[0]}/{f[0]}_{int(f[1]):04d}.jpg"
        b = f"{f[0] if len(f) == 3 else f[2]}/{f[0] if len(f) == 3 else f[2]}_{int(f[-1]):04d}.jpg"
        u, v = emb[row[a]].astype(np.float64), emb[row[b]].astype(np.float64)
        scores.append(u @ v / np.linalg.norm(u) / np.linalg.norm(v))
        labels.append(len(f) == 3)
    assert data["auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert len(data["fold_accuracies"]) == 2


def test_cli_missing_image_one_line(tmp_path):
    _lfw_files(tmp_path)
    text = (tmp_path / "pairs.txt").read_text().replace("\t1\t", "\t9\t", 1)
    (tmp_path / "pairs.txt").write_text(text)
    with pytest.raises(FaceIdError) as err:
        _cli(tmp_path, "--protocol", "lfw", "--embeddings", str(tmp_path / "E.npy"),
             "--list", str(tmp_path / "list.txt"), "--pairs", str(tmp_path / "pairs.txt"))
    msg = str(err.value)
    assert msg.startswith(str(tmp_path / "pairs.txt")) and "pairs.txt:" in msg and "_0009.jpg is not in the image list" in msg
    assert "\n" not in msg


def test_cli_blufr_with_list(tmp_path):
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(1, 9), 3)
    files = [f"L{lab}_{i:04d}.jpg" for i, lab in enumerate(labels)]
    img = np.empty((len(files), 1), object)
    for i, f in enumerate(files):
        img[i, 0] = f

    def cell(arrs):
        c = np.empty((len(arrs), 1), object)
        for i, a in enumerate(arrs):
            c[i, 0] = np.asarray(a, np.uint16).reshape(-1, 1)
        return c

    test = np.arange(1, 25)
    gal = [1, 4, 7]  # one image of labels 1..3
    prob = np.setdiff1d(test, gal)
    scipy.io.savemat(tmp_path / "cfg.mat", {"imageList": img, "labels": labels.reshape(-1, 1).astype(np.uint16),
                                            "testIndex": cell([test] * 2), "galIndex": cell([gal] * 2),
                                            "probIndex": cell([prob] * 2)})
    emb = rng.normal(size=(9, 8))[labels] + 0.5 * rng.normal(size=(24, 8))
    perm = rng.permutation(24)  # the list order differs from the config order
    (tmp_path / "list.txt").write_text("".join(f"x/{files[i][:-4]}.png\n" for i in perm))
    np.save(tmp_path / "E.npy", emb[perm])
    res, out = _cli(tmp_path, "--protocol", "blufr", "--embeddings", str(tmp_path / "E.npy"),
                    "--list", str(tmp_path / "list.txt"), "--config", str(tmp_path / "cfg.mat"))
    data = _check_files(out)
    direct = evaluate.evaluate_blufr(emb, str(tmp_path / "cfg.mat"))  # config order, no list
    assert data["VR@FAR=0.1%"]["mean"] == pytest.approx(direct["VR@FAR=0.1%"]["mean"])
    assert data["DIR@FAR=1%,rank=1"]["trials"] == pytest.approx(direct["DIR@FAR=1%,rank=1"]["trials"])
    assert data["trials"] == 2 and data["VR@FAR=0.1%"]["std"] == 0.0


def test_cli_bin_from_other_cwd(tmp_path):
    rng = np.random.default_rng(2)
    blobs = [cv2.imencode(".png", rng.integers(0, 255, (4, 4, 3), dtype=np.uint8))[1].tobytes() for _ in range(200)]
    issame = rng.random(100) < 0.5
    binsets.write_bin(str(tmp_path / "v.bin"), blobs, issame)
    emb = rng.normal(size=(200, 8))
    emb[1::2][issame] = emb[0::2][issame] + 0.3 * rng.normal(size=(issame.sum(), 8))
    np.save(tmp_path / "E.npy", emb)
    np.save(tmp_path / "F.npy", emb + 0.1 * rng.normal(size=emb.shape))
    out = tmp_path / "r" / "bin.json"
    cmd = [sys.executable, os.path.join(ROOT, "common", "evaluate"), "--protocol", "bin",
           "--embeddings", "E.npy", "--flip_embeddings", "F.npy", "--pairs", "v.bin", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "accuracy_flip" in proc.stdout
    data = _check_files(str(out))
    assert data["files"]["pairs"] == str(tmp_path / "v.bin")
    assert data["xnorm"] == pytest.approx(np.mean(np.linalg.norm(np.vstack([emb, np.load(tmp_path / "F.npy")]), axis=1)))
    assert set(data["roc"]) == {"no flip", "flip"}


def test_write_result_atomic_and_needs_roc(tmp_path):
    path = str(tmp_path / "m.json")
    with pytest.raises(ValueError, match="metrics need a 'roc' entry"):
        plots.write_result(path, {"protocol": "x"})
    plots.write_result(path, {"protocol": "x", "v": np.float32(0.5), "inf": float("inf"),
                              "roc": {"c": {"far": [0, 1e-3, 1], "tpr": [0, 0.5, 1]}}})
    assert json.load(open(path)) == {"protocol": "x", "v": 0.5, "inf": None,
                                     "roc": {"c": {"far": [0, 1e-3, 1], "tpr": [0, 0.5, 1]}}}
    assert sorted(os.listdir(tmp_path)) == ["m.json", "m_roc.png"]  # no temporary files left
