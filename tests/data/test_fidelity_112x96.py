"""A 112x96 recipe given 112x112 aligned crops takes columns 8..104 (the SphereFace 112x96 template is the ArcFace
112x112 one shifted by 8 px), never a resize that squashes the face: through the Preprocess of every 112x96 recipe
YAML (eval and train), the .bin runner, an arcface112 LFW folder and the C++ pre-step. The reference is numpy
slicing of the decoded pixels, written here."""
import glob
import json
import os

import cv2
import numpy as np
import pytest

from common.core.config import read_yaml
from common.data.transforms import Preprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPHERE = os.path.join(ROOT, "cosface", "configs", "cosface_sphere64_casia.yaml")


def _faces(n, seed=0):
    return [np.random.default_rng(seed + k).integers(0, 256, (112, 112, 3), dtype=np.uint8) for k in range(n)]


def _expected(rgb, pre):
    x = rgb[:, 8:104].astype(np.float32)
    return ((x - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)).transpose(2, 0, 1)


def recipes_112x96():
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, "*", "configs", "*.yaml"))):
        pre = read_yaml(path).get("preprocess")
        if pre and Preprocess.from_config(pre).output_size[1:] == (112, 96):
            found.append(path)
    return found


def test_the_112x96_recipes_are_found():
    names = {os.path.relpath(p, ROOT) for p in recipes_112x96()}
    assert {"cosface/configs/cosface_sphere64_casia.yaml", "pfe/configs/pfe_sphere64_casia.yaml",
            "pfe/configs/base_sphere64_cosface.yaml"} <= names


@pytest.mark.parametrize("path", recipes_112x96(), ids=lambda p: os.path.relpath(p, ROOT))
def test_every_112x96_recipe_takes_columns_8_to_104(path):
    pre = Preprocess.from_config(read_yaml(path)["preprocess"])
    for rgb in _faces(3):
        np.testing.assert_array_equal(pre.eval_image(rgb), _expected(rgb, pre))
        train = Preprocess.from_config(dict(read_yaml(path)["preprocess"], flip=False))
        np.testing.assert_array_equal(train.train_image(rgb, np.random.default_rng(0)), _expected(rgb, pre))
    # a 112x96 crop is taken whole (no resize), a 224x224 one is its 192 middle columns scaled by 1/2
    small = _faces(1, 7)[0][:, 8:104]
    np.testing.assert_array_equal(pre.eval_image(small), _expected(np.pad(small, ((0, 0), (8, 8), (0, 0))), pre))
    big = cv2.resize(_faces(1, 9)[0], (224, 224), interpolation=cv2.INTER_NEAREST)
    ref = cv2.resize(big[:, 16:208], (96, 112), interpolation=cv2.INTER_AREA).astype(np.float32)
    np.testing.assert_allclose(pre.eval_image(big),
                               ((ref - np.float32(pre.mean)) / np.float32(pre.std)).transpose(2, 0, 1), atol=1e-6)


class Capture:
    """A stand-in network over numpy NCHW batches: records its non-flipped inputs, returns pixel features."""

    def __init__(self):
        self.seen = []

    def __call__(self, x):
        self.seen.append(np.array(x))
        return x.reshape(len(x), -1)[:, ::331][:, :16] + 0.01 * np.arange(16, dtype=np.float32)


def _rows(cap, n):
    """The first n rows given to the net, in order, skipping the flipped batch after each batch."""
    batches = cap.seen[0::2]
    return np.concatenate(batches)[:n]


def test_bin_runner_takes_columns_8_to_104(tmp_path):
    from common.evaluation.targets import bin_set
    from common.protocols.binsets import write_bin

    pre = Preprocess.from_config(read_yaml(SPHERE)["preprocess"])
    faces = _faces(40)
    blobs = [cv2.imencode(".png", cv2.cvtColor(f, cv2.COLOR_RGB2BGR))[1].tobytes() for f in faces]
    write_bin(str(tmp_path / "t.bin"), blobs, [True] * 10 + [False] * 10)
    cap = Capture()
    bin_set(cap, pre, str(tmp_path / "t.bin"), batch_size=16, log=lambda *_: None)
    got = _rows(cap, 40)
    for k, f in enumerate(faces):
        np.testing.assert_array_equal(got[k], _expected(f, pre))


def test_arcface112_folder_takes_columns_8_to_104(tmp_path):
    from common.evaluation.targets import lfw_folder

    pre = Preprocess.from_config(read_yaml(SPHERE)["preprocess"])
    faces, names = _faces(8), []
    for k, f in enumerate(faces):
        person = f"p{k // 2}"
        os.makedirs(tmp_path / "lfw" / person, exist_ok=True)
        names.append(f"{person}/{person}_{k % 2 + 1:04d}.png")
        cv2.imwrite(str(tmp_path / "lfw" / names[-1]), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    with open(tmp_path / "pairs.txt", "w") as fh:   # 2 folds x (1 same + 1 different)
        fh.write("2\t1\np0\t1\t2\np0\t1\tp1\t1\np2\t1\t2\np2\t1\tp3\t2\n")
    cap = Capture()
    lfw_folder(cap, pre, str(tmp_path / "lfw"), str(tmp_path / "pairs.txt"), batch_size=8, log=lambda *_: None)
    got = np.concatenate(cap.seen)               # one batch (padded to 8), no flip
    used = sorted(["p0/p0_0001.png", "p0/p0_0002.png", "p1/p1_0001.png", "p2/p2_0001.png", "p2/p2_0002.png",
                   "p3/p3_0002.png"])           # the images the pairs name, in name order
    assert len(cap.seen) == 1 and len(got) == 8
    for k, name in enumerate(used):
        np.testing.assert_array_equal(got[k], _expected(faces[names.index(name)], pre))


def test_cpp_prestep_takes_columns_8_to_104(tmp_path):
    from common.deploy.infer310 import preprocess_for_model

    fields = dict(read_yaml(SPHERE)["preprocess"])
    pre = Preprocess.from_config(fields)
    model = tmp_path / "m.onnx"
    model.write_bytes(b"stand-in")
    with open(str(model) + ".json", "w") as f:
        json.dump({"preprocess": fields, "input": {"name": "x", "shape": [1, 3, 112, 96]},
                   "outputs": [{"name": "y", "meaning": "embedding"}]}, f)
    faces = _faces(3)
    os.makedirs(tmp_path / "imgs")
    for k, face in enumerate(faces):
        cv2.imwrite(str(tmp_path / "imgs" / f"{k}.png"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    stems, _ = preprocess_for_model(str(model), str(tmp_path / "imgs"), str(tmp_path / "bins"))
    for stem, face in zip(stems, faces):
        x = np.fromfile(tmp_path / "bins" / f"{stem}.bin", np.float32).reshape(3, 112, 96)
        np.testing.assert_array_equal(x, _expected(face, pre))
