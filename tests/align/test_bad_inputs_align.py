"""Hostile inputs to align and compare (issue 24 item 5): one destination never mixes two templates (refused
before anything is written, or re-aligned with --overwrite); ``compare --result`` refuses a result of another
model, backbone or preprocessing instead of borrowing its threshold."""
import argparse
import json
import os
import shutil

import cv2
import pytest

from common.align.tool import parse_args, run
from common.core.errors import FaceIdError
from common.data.transforms import Preprocess
from common.tools import compare

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PHOTOS = os.path.join(ROOT, "tests", "fixtures", "raw_photos")


def _tree(dst):
    return {os.path.relpath(os.path.join(d, f), dst): os.path.getmtime(os.path.join(d, f))
            for d, _, fs in os.walk(dst) for f in fs}


def test_align_refuses_another_template_in_the_same_destination(tmp_path):
    src = tmp_path / "src"
    (src / "obama").mkdir(parents=True)
    shutil.copyfile(os.path.join(PHOTOS, "obama_small.jpg"), src / "obama" / "a.jpg")
    dst = tmp_path / "dst"
    first = run(parse_args([str(src), str(dst), "--template", "arcface112", "--quiet"]))
    assert first["counts"]["faces_written"] == 1
    crop = dst / "obama" / "a.jpg"
    assert cv2.imread(str(crop)).shape[:2] == (112, 112)
    before = _tree(dst)
    with pytest.raises(FaceIdError) as e:
        run(parse_args([str(src), str(dst), "--template", "lightcnn144", "--quiet"]))
    msg = str(e.value)
    assert "\n" not in msg and "already aligned with template arcface112" in msg and "--overwrite" in msg
    assert _tree(dst) == before                                     # nothing written, the report kept
    assert json.loads((dst / "align_report.json").read_text())["counts"]["faces_written"] == 1
    # --overwrite re-aligns every image with the new template
    again = run(parse_args([str(src), str(dst), "--template", "lightcnn144", "--quiet", "--overwrite"]))
    assert again["counts"]["skipped_existing"] == 0 and again["counts"]["faces_written"] == 1
    assert cv2.imread(str(crop)).shape[:2] == (144, 144)
    assert json.loads((dst / "align_report.json").read_text())["template"] == "lightcnn144"


def test_an_interrupted_run_records_its_template_first(tmp_path):
    """The template is on record from the start of a run, so a folder whose first run died is not mixed either."""
    from common.align import tool

    src = tmp_path / "src"
    (src / "x").mkdir(parents=True)
    shutil.copyfile(os.path.join(PHOTOS, "obama_small.jpg"), src / "x" / "a.jpg")
    dst = tmp_path / "dst"

    def die(job):
        raise KeyboardInterrupt
    orig, tool.process_one = tool.process_one, die
    try:
        with pytest.raises(KeyboardInterrupt):
            run(parse_args([str(src), str(dst), "--template", "arcface112", "--quiet"]))
    finally:
        tool.process_one = orig
    with pytest.raises(FaceIdError, match="already aligned with template arcface112"):
        run(parse_args([str(src), str(dst), "--template", "facenet160", "--quiet"]))


class _Stand:
    """load_embedder's interface; the preprocessing is what a result is checked against."""

    align = "arcface112"

    def __init__(self, backbone="lightcnn9", **pre):
        self.preprocess = Preprocess(**dict(dict(channels=1, resize=144, crop=128, mean=0.0, std=255.0), **pre))
        self.cfg = {"backbone": backbone}

    def embed(self, x):
        return x.reshape(len(x), -1) + 0.5


def _args(tmp_path, result, model="lightcnn"):
    return argparse.Namespace(model=model, ckpt_file=None, config=None, threshold=None, result=str(result),
                              align=None, face_a=None, face_b=None, min_face=20, out_dir=str(tmp_path / "out"),
                              photos=[os.path.join(PHOTOS, "obama_small.jpg"), os.path.join(PHOTOS, "obama2.jpg")])


def _result(tmp_path, **kw):
    data = {"protocol": "lfw", "fold_thresholds": [0.3, 0.5], "model": "lightcnn", "backbone": "lightcnn9",
            "preprocess": {"channels": 1, "resize": 144, "crop": 128, "mean": 0.0, "std": 255.0, "flip": True,
                           "color": "rgb", "interp": "auto"}}
    data.update(kw)
    path = tmp_path / f"r{len(list(tmp_path.glob('r*.json')))}.json"
    path.write_text(json.dumps(data))
    return path


def test_compare_refuses_a_result_of_another_model_or_preprocessing(tmp_path):
    good = _result(tmp_path)
    out = compare.run(_args(tmp_path, good), embedder=_Stand())
    assert out["threshold"] == pytest.approx(0.4) and out["threshold_source"].startswith(str(good))
    shutil.rmtree(tmp_path / "out")
    cases = [(_result(tmp_path, model="cosface"), "a result of model cosface, not of --model lightcnn"),
             (_result(tmp_path, backbone="lightcnn29"), "backbone lightcnn29"),
             (_result(tmp_path, preprocess={"channels": 1, "resize": 144, "crop": 128, "mean": 127.5,
                                            "std": 128.0}), "another preprocessing (mean 127.5, here 0.0, +1 more)"),
             (_result(tmp_path, align="lightcnn144"), "aligned with lightcnn144, here arcface112"),
             (_result(tmp_path, model=None), "records no model")]
    for path, why in cases:
        with pytest.raises(FaceIdError) as e:
            compare.run(_args(tmp_path, path), embedder=_Stand())
        assert why in str(e.value) and str(path) in str(e.value), str(e.value)
    assert not (tmp_path / "out").exists()                       # refused before any photo was read or written
    # the C++ post-step's result keeps the preprocessing under "export"
    cpp = _result(tmp_path, preprocess=None, export={"preprocess": {"channels": 3, "resize": 144, "crop": 128,
                                                                     "mean": 0.0, "std": 255.0}})
    with pytest.raises(FaceIdError, match="another preprocessing \\(channels 3, here 1\\)"):
        compare.run(_args(tmp_path, cpp), embedder=_Stand())
