"""Self-describing exports: common.deploy.export.export_checked writes <file>.json beside the model; load_exported runs it.

A tiny conv net is exported to ONNX and MINDIR; the sidecar is checked against independent readings (the ONNX
graph read with onnx, the checkpoint hashed with hashlib, the preprocessing given), and Python inference from the
export is compared with the network applied to images prepared here by hand with OpenCV calls.
"""
import hashlib
import json
import os

import cv2
import mindspore as ms
import numpy as np
import pytest
from mindspore import nn, ops

from common.deploy import export as ex
from common.core.config import Config
from common.core.errors import FaceIdError

PRE = {"channels": 3, "color": "bgr", "resize": 20, "crop": 16, "mean": 100.0, "std": 50.0, "flip": False,
       "interp": "linear"}


class Tiny(nn.Cell):
    """conv 3->4 -> ReLU -> global mean -> dense 8; optionally a second output exp(dense 8) (like PFE's sigma^2)."""

    def __init__(self, two=False):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, pad_mode="pad", padding=1, has_bias=True)
        self.fc = nn.Dense(4, 8)
        self.fc2 = nn.Dense(4, 8)
        self.two = two
        self.input_size = (3, 16, 16)

    def construct(self, x):
        h = ops.relu(self.conv(x)).mean(axis=(2, 3))
        if self.two:
            return self.fc(h), ops.exp(self.fc2(h))
        return self.fc(h)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    ms.set_seed(4)
    net = Tiny()
    path = str(d / "tiny.ckpt")
    ms.save_checkpoint(net, path)
    return path


def _build(ckpt, two=False):
    def build():
        net = Tiny(two)
        ms.load_param_into_net(net, ms.load_checkpoint(ckpt))
        net.set_train(False)
        return net
    return build


def _cfg(ckpt, tmp_path, fmt, **over):
    cfg = Config(model="tiny", backbone="tinynet", preprocess=dict(PRE), ckpt_file=ckpt, file_format=fmt,
                 file_name=str(tmp_path / "tiny"), batch_size_export=2, flip=True,
                 align={"template": [[38.3, 51.7], [73.5, 51.5]], "size": [112, 112]})
    cfg.update(over)
    return cfg


def _by_hand(path):
    """BGR, shorter side to 20 (linear), centre 16x16, (x - 100) / 50, CHW: written out with OpenCV calls."""
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    s = 20 / min(h, w)
    th, tw = round(h * s), round(w * s)
    img = cv2.resize(img, (tw, th), interpolation=cv2.INTER_LINEAR)
    y, x = (th - 16) // 2, (tw - 16) // 2
    img = img[y:y + 16, x:x + 16].astype(np.float32)
    return ((img - 100.0) / 50.0).transpose(2, 0, 1)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("img")
    rng = np.random.default_rng(0)
    paths = []
    for k, (h, w) in enumerate([(24, 30), (40, 22), (20, 20), (33, 47), (25, 26)]):
        p = str(d / f"{k}.png")
        cv2.imwrite(p, rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        paths.append(p)
    return paths


@pytest.mark.parametrize("fmt", ["ONNX", "MINDIR"])
def test_sidecar_describes_the_export(ckpt, tmp_path, fmt):
    import onnx

    path, diff = ex.export_checked(_cfg(ckpt, tmp_path, fmt), _build(ckpt), "CPU")
    side = path + ".json"
    assert path == str(tmp_path / ("tiny.onnx" if fmt == "ONNX" else "tiny.mindir")) and os.path.isfile(side)
    meta = json.load(open(side))
    assert meta["file"] == os.path.basename(path) and meta["format"] == fmt
    assert meta["model"] == "tiny" and meta["backbone"] == "tinynet"
    assert meta["preprocess"] == PRE
    assert "INTER_LINEAR" in meta["preprocess_rules"]["interpolation"] and meta["preprocess_rules"]["color_order"] == "BGR"
    assert meta["eval_flip"] is True
    assert meta["checkpoint"] == {"path": os.path.abspath(ckpt),
                                  "sha256": hashlib.sha256(open(ckpt, "rb").read()).hexdigest()}
    assert meta["parity"]["max_abs_diff"] == diff <= meta["parity"]["tolerance"]
    assert meta["mindspore_version"] == ms.__version__
    assert meta["config"]["ckpt_file"] == ckpt and meta["align"]["size"] == [112, 112]
    assert meta["input"]["shape"] == [2, 3, 16, 16] and meta["input"]["dtype"] == "float32"
    assert [o["meaning"] for o in meta["outputs"]] == ["embedding"] and meta["outputs"][0]["shape"] == [2, 8]
    if fmt == "ONNX":  # names as the file has them
        g = onnx.load(path).graph
        inits = {t.name for t in g.initializer}
        assert meta["input"]["name"] == [i.name for i in g.input if i.name not in inits][0]
        assert [o["name"] for o in meta["outputs"]] == [o.name for o in g.output]
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]


@pytest.mark.parametrize("fmt", ["ONNX", "MINDIR"])
def test_load_exported_runs_with_the_sidecar_preprocessing(ckpt, tmp_path, images, fmt):
    path, _ = ex.export_checked(_cfg(ckpt, tmp_path, fmt), _build(ckpt), "CPU")
    model = ex.load_exported(path)
    assert model.preprocess.color == "bgr" and model.preprocess.crop == 16 and model.preprocess.mean == 100.0
    x = np.stack([_by_hand(p) for p in images])  # 5 images through a batch-2 file: chunks + padding
    ref = _build(ckpt)()(ms.Tensor(x)).asnumpy()
    got = model.embed_files(images)
    assert len(got) == 1 and got[0].shape == (5, 8)
    np.testing.assert_allclose(got[0], ref, atol=1e-5, rtol=0)
    # the default preprocessing (RGB, 127.5 / 128) would give other numbers: the check above can fail
    from common.data.transforms import Preprocess
    other = np.stack([Preprocess(crop=16, resize=20).eval_array(p) for p in images])
    assert np.abs(_build(ckpt)()(ms.Tensor(other)).asnumpy() - ref).max() > 1e-3
    assert model.meta["format"] == fmt


def test_two_outputs_are_named_mu_and_sigma_sq(ckpt, tmp_path):
    path, _ = ex.export_checked(_cfg(ckpt, tmp_path, "ONNX"), _build(ckpt, two=True), "CPU", outputs=("mu", "sigma_sq"))
    meta = json.load(open(path + ".json"))
    assert [o["meaning"] for o in meta["outputs"]] == ["mu", "sigma_sq"]
    assert [o["shape"] for o in meta["outputs"]] == [[2, 8], [2, 8]]
    x = np.random.default_rng(2).standard_normal((3, 3, 16, 16)).astype(np.float32)
    mu, s = ex.load_exported(path).run(x)
    ref_mu, ref_s = (t.asnumpy() for t in _build(ckpt, two=True)()(ms.Tensor(x)))
    np.testing.assert_allclose(mu, ref_mu, atol=1e-5)
    np.testing.assert_allclose(s, ref_s, rtol=1e-5)
    with pytest.raises(FaceIdError, match="the file has 2 output\\(s\\) but the recipe names 1"):
        ex.export_checked(_cfg(ckpt, tmp_path, "ONNX"), _build(ckpt, two=True), "CPU")


def test_no_sidecar_is_refused_with_the_command(ckpt, tmp_path):
    ms.export(_build(ckpt)(), ms.Tensor(np.zeros((1, 3, 16, 16), np.float32)), file_name=str(tmp_path / "bare"),
              file_format="ONNX")
    with pytest.raises(FaceIdError) as exc:
        ex.load_exported(str(tmp_path / "bare.onnx"))
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"{tmp_path / 'bare.onnx'}: no sidecar bare.onnx.json")
    assert f"python <model>/export.py --ckpt_file CKPT --file_format ONNX --file_name {tmp_path / 'bare'}" in msg


def test_failed_parity_leaves_no_sidecar(ckpt, tmp_path, monkeypatch):
    cfg = _cfg(ckpt, tmp_path, "ONNX")
    path, _ = ex.export_checked(cfg, _build(ckpt), "CPU")
    assert os.path.isfile(path + ".json")
    cfg["export_tol"] = -1.0  # no file can pass: the old sidecar must not survive next to the new file
    with pytest.raises(FaceIdError, match="exported outputs differ from the Python network"):
        ex.export_checked(cfg, _build(ckpt), "CPU")
    assert not os.path.exists(path + ".json")
    with pytest.raises(FaceIdError, match="no sidecar"):
        ex.load_exported(path)


def test_preprocess_that_does_not_fit_the_network_is_refused(ckpt, tmp_path):
    cfg = _cfg(ckpt, tmp_path, "ONNX", preprocess=dict(PRE, crop=12, resize=14))
    with pytest.raises(FaceIdError, match=r"preprocess gives \(3, 12, 12\) \(C, H, W\) but the network takes \(3, 16, 16\)"):
        ex.export_checked(cfg, _build(ckpt), "CPU")
    assert not os.path.exists(tmp_path / "tiny.onnx")
