"""Hostile inputs to the C++ path (issue 24 item 5): every LFW layout the Python eval accepts (the old CosFace
``LFW_112/pairs.txt`` + ``LFW_112/lfw_align_112/<name>/...``, other extensions) is accepted; the layout and the
device are checked before preprocessing and the build. No harness build is needed here: the harness's outputs are
written by the test (tests/deploy/test_infer310_models.py runs the real one)."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from common.core.errors import FaceIdError
from common.deploy import infer310, infer310_post
from tests.evaluation.test_bad_inputs_eval import PEOPLE, make_lfw

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _lfw_112(tmp_path, ext=".jpg"):
    """The old CosFace layout: LFW_112/pairs.txt, images under LFW_112/lfw_align_112/<name>/."""
    root = tmp_path / "LFW_112"
    pairs_path, img_root, pairs = make_lfw(str(root), ext=ext, subfolder="lfw_align_112")
    return root, pairs_path, img_root, pairs


def _harness_outputs(root, work, emb_of):
    """Preprocess every image under ``root`` as run_infer_310.sh does (recursive, sorted) and write the harness's
    ``<stem>.bin`` outputs: ``emb_of(path)`` per image."""
    paths = infer310.list_images(str(root))
    stems = infer310.preprocess(paths, lambda p: np.zeros((1, 1, 1), np.float32), str(work / "input"))
    (work / "result").mkdir()
    for stem, p in zip(stems, paths):
        np.asarray(emb_of(p), np.float32).tofile(work / "result" / f"{stem}.bin")
    return paths


def test_post_step_scores_the_old_cosface_layout_like_a_brute_force_computation(tmp_path):
    from sklearn.metrics import roc_auc_score

    root, pairs_path, img_root, pairs = _lfw_112(tmp_path, ext=".png")   # pairs.txt names .jpg: any extension
    rng = np.random.default_rng(0)
    centre = {p: rng.normal(size=8) for p in PEOPLE}
    vec = {}

    def emb_of(path):
        person = os.path.basename(os.path.dirname(path))
        vec[path] = centre[person] + 0.7 * rng.normal(size=8)
        return vec[path]

    work = tmp_path / "work"
    _harness_outputs(root, work, emb_of)
    out = infer310_post.postprocess(str(work / "input" / "manifest.tsv"), str(work / "result"), str(root),
                                    log=lambda *_: None)
    # independent: cosine of the two images of each pair, found here by their paths
    def v(name):
        u = vec[os.path.join(img_root, name + ".png")]
        return u / np.linalg.norm(u)
    scores = np.array([v(a) @ v(b) for a, b, _, _ in pairs])
    same = np.array([s for _, _, s, _ in pairs])
    assert out["pairs"] == len(pairs) and out["pairs_dropped"] == 0
    assert out["auc"] == pytest.approx(roc_auc_score(same, scores), abs=1e-9)
    assert infer310_post.find_pairs(str(root)) == pairs_path


def test_pairs_in_the_single_subfolder_are_found_too(tmp_path):
    root = tmp_path / "data"
    pairs_path, img_root, _ = make_lfw(str(root), subfolder="LFW_112", pairs_in_root=False)
    assert infer310.find_dataset_pairs(str(root)) == pairs_path
    assert infer310.check_layout(str(root)) == pairs_path
    assert infer310.find_dataset_pairs(str(tmp_path / "nothing_here")) is None


def _model(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"onnx")
    (tmp_path / "m.onnx.json").write_text(json.dumps({
        "preprocess": {"channels": 3, "resize": [8, 8], "mean": 127.5, "std": 128.0},
        "input": {"shape": [1, 3, 8, 8]}, "outputs": [{"name": "out", "meaning": "embedding"}]}))
    return model


def _preprocess_cli(model, images, out_dir):
    return subprocess.run([sys.executable, "-m", "common.infer310", "preprocess", "--model", str(model), "--images",
                           str(images), "--out_dir", str(out_dir)], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=ROOT), timeout=120)


def test_layout_is_checked_before_anything_is_preprocessed(tmp_path):
    model = _model(tmp_path)
    root, pairs_path, img_root, _ = _lfw_112(tmp_path)
    os.remove(os.path.join(img_root, "Person_3", "Person_3_0002.jpg"))
    run = _preprocess_cli(model, root, tmp_path / "input")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    line = run.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {pairs_path}: names 1 image(s) missing") and "Person_3/Person_3_0002" in line
    assert not (tmp_path / "input").exists()
    # pairs the protocol cannot score (one fold): refused before preprocessing too
    with open(pairs_path, "w") as f:
        f.write("1\t1\nPerson_0\t1\t2\nPerson_0\t1\tPerson_1\t1\n")
    with pytest.raises(FaceIdError, match="fold"):
        infer310.check_layout(str(root))
    # the intact layout preprocesses every image (the pairs' and any others)
    cv2.imwrite(os.path.join(img_root, "Person_3", "Person_3_0002.jpg"), np.zeros((12, 12, 3), np.uint8))
    make_lfw(str(root), subfolder="lfw_align_112")
    run = _preprocess_cli(model, root, tmp_path / "input")
    assert run.returncode == 0, run.stderr
    assert len(infer310.read_manifest(str(tmp_path / "input" / "manifest.tsv"))[0]) == 24


def test_default_ascend_on_a_cpu_only_build_fails_first_in_one_line(tmp_path):
    model = _model(tmp_path)
    root, _, _, _ = _lfw_112(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "MSLITE_HOME"}
    env.update(WORK_DIR=str(tmp_path / "work"), PYTHON=sys.executable)
    run = subprocess.run(["bash", os.path.join(ROOT, "scripts", "run_infer_310.sh"), str(model), str(root)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode != 0
    lines = [ln for ln in run.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: DEVICE_TARGET Ascend: this MindSpore Lite build is "
                                                   "CPU-only") and "DEVICE_TARGET CPU" in lines[0]
    assert "== preprocess" not in run.stdout and "== build" not in run.stdout
    assert not (tmp_path / "work").exists()                      # nothing prepared, nothing built


def test_images_the_python_eval_skips_are_skipped_and_their_pairs_dropped(tmp_path):
    """A 1x1 image and an unreadable one: skipped by the pre-step (named in skipped.tsv), their pairs dropped by the
    post-step as the Python eval drops them; the rest scored like a brute-force computation."""
    from sklearn.metrics import roc_auc_score

    from common.data.transforms import Preprocess

    root, pairs_path, img_root, pairs = _lfw_112(tmp_path)
    tiny = os.path.join(img_root, "Person_1", "Person_1_0002.jpg")
    cv2.imwrite(tiny, np.zeros((1, 1, 3), np.uint8))
    broken = os.path.join(img_root, "Person_4", "Person_4_0001.jpg")
    open(broken, "wb").close()
    pre = Preprocess(channels=3, resize=[8, 8], crop=None, mean=127.5, std=128.0, flip=False)
    work = tmp_path / "work"
    said = []
    stems = infer310.preprocess(infer310.list_images(str(root)), pre.eval_array, str(work / "input"),
                                skip_bad=True, log=said.append)
    assert len(stems) == 22 and "skipped 2 image(s)" in said[0]
    assert set(infer310.read_skipped(str(work / "input" / "manifest.tsv"))) == {tiny, broken}
    _, images = infer310.read_manifest(str(work / "input" / "manifest.tsv"))
    rng = np.random.default_rng(1)
    vec = {p: rng.normal(size=8) for p in images}
    (work / "result").mkdir()
    for stem, p in zip(stems, images):
        vec[p].astype(np.float32).tofile(work / "result" / f"{stem}.bin")
    out = infer310_post.postprocess(str(work / "input" / "manifest.tsv"), str(work / "result"), str(root),
                                    log=lambda *_: None)
    bad = {"Person_1/Person_1_0002", "Person_4/Person_4_0001"}
    kept = [(a, b, s) for a, b, s, _ in pairs if not {a, b} & bad]
    assert out["pairs_dropped"] == len(pairs) - len(kept) > 0 and out["pairs"] == len(kept)
    assert sorted(out["unreadable_images"]) == sorted(n + ".jpg" for n in bad)

    def unit(name):
        u = vec[os.path.join(img_root, name + ".jpg")]
        return u / np.linalg.norm(u)
    scores = [unit(a) @ unit(b) for a, b, _ in kept]
    assert out["auc"] == pytest.approx(roc_auc_score([s for _, _, s in kept], scores), abs=1e-9)
