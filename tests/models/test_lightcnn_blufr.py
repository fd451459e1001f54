"""lightcnn/eval_blufr.py end to end on a tiny BLUFR-format config and image folder."""
import json
import os

import cv2
import mindspore as ms
import numpy as np
import pytest

from common.core.errors import FaceIdError
import scipy.io

from lightcnn import eval_blufr
from common.nets import BACKBONES
import lightcnn.src.lightcnn  # noqa: F401  (registers the LightCNN backbones)
from tests.helpers import ROOT, TINY_BB, TINY_PRE

DEMO = os.path.join(ROOT, "lightcnn", "configs", "demo.yaml")


def _cell(arrays):
    c = np.empty((len(arrays), 1), dtype=object)
    for i, a in enumerate(arrays):
        c[i, 0] = np.asarray(a, np.uint16).reshape(-1, 1)
    return c


def test_eval_blufr_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    people = [f"P{k}" for k in range(8)]
    names, labels = [], []
    for k, p in enumerate(people):
        os.makedirs(tmp_path / "lfw" / p)
        for n in range(1, 4):
            name = f"{p}_{n:04d}.jpg"
            cv2.imwrite(str(tmp_path / "lfw" / p / name), rng.integers(0, 255, (40, 40), np.uint8))
            names.append(name)
            labels.append(k + 1)
    idx = np.arange(1, len(names) + 1)
    gal = [i for i in idx if (i - 1) % 3 == 0 and labels[i - 1] <= 6]
    prob = [i for i in idx if i not in gal]
    il = np.empty((len(names), 1), dtype=object)
    for i, n in enumerate(names):
        il[i, 0] = np.array([n])
    mat = tmp_path / "cfg.mat"
    scipy.io.savemat(mat, {"imageList": il, "labels": np.array(labels, np.uint16).reshape(-1, 1),
                           "testIndex": _cell([idx, idx]), "galIndex": _cell([gal, gal]),
                           "probIndex": _cell([prob, prob])})
    ckpt = str(tmp_path / "b.ckpt")
    ms.save_checkpoint(BACKBONES.create("lightcnn9", input_size=(1, 32, 32)), ckpt)
    res = eval_blufr.main(["--config", DEMO, "--preprocess", TINY_PRE, "--backbone_args", TINY_BB, "--ckpt_file", ckpt,
                           "--data_root", str(tmp_path / "lfw"), "--blufr_config", str(mat), "--out_dir", str(tmp_path)])
    res = res["lfw.blufr"]
    saved = json.load(open(tmp_path / "eval" / "lfw.blufr_result.json"))
    assert saved["trials"] == 2 and saved["images"] == 24
    assert saved["VR@FAR=0.1%"]["mean"] == pytest.approx(res["VR@FAR=0.1%"]["mean"])
    assert os.path.isfile(tmp_path / "eval" / "lfw.blufr_result_roc.png")
    os.remove(tmp_path / "lfw" / "P0" / "P0_0001.jpg")
    with pytest.raises(FaceIdError, match=r"cfg.mat: lists 1 image\(s\) missing .*P0/P0_0001.jpg"):
        eval_blufr.main(["--config", DEMO, "--preprocess", TINY_PRE, "--backbone_args", TINY_BB, "--data_root", str(tmp_path / "lfw"),
                         "--blufr_config", str(mat)])
