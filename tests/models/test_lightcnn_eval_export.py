"""LightCNN eval_lfw.py and export.py end to end on tiny data."""
import json
import os

import mindspore as ms
import numpy as np
import pytest

from common.core.errors import FaceIdError

from common.deploy.export import run_exported
from lightcnn import eval_lfw, export
from common.nets import BACKBONES
import lightcnn.src.lightcnn  # noqa: F401  (registers the LightCNN backbones)
from tests.helpers import ROOT, TINY_BB, TINY_PRE, make_data

DEMO = os.path.join(ROOT, "lightcnn", "configs", "demo.yaml")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("lfw")
    _, test = make_data(root, train_ids=1, train_images=1)
    ms.set_seed(3)
    net = BACKBONES.create("lightcnn9", input_size=(1, 32, 32))
    ckpt = str(root / "backbone.ckpt")
    ms.save_checkpoint(net, ckpt)
    return test, ckpt


def test_eval_lfw_writes_json_and_png(setup, tmp_path):
    test, ckpt = setup
    res = eval_lfw.main(["--config", DEMO, "--preprocess", TINY_PRE, "--backbone_args", TINY_BB, "--ckpt_file", ckpt,
                         "--data_root", test, "--out_dir", str(tmp_path / "r"), "--eval_batch_size", "16"])
    res = res["test.lfw"]
    out = tmp_path / "r" / "eval" / "test.lfw_result.json"
    saved = json.load(open(out))
    assert os.path.getsize(tmp_path / "r" / "eval" / "test.lfw_result_roc.png") > 1000
    assert saved["pairs"] == 200 and saved["checkpoint"] == ckpt
    assert 0.0 <= saved["accuracy_mean"] <= 1.0 and saved["accuracy_mean"] == pytest.approx(res["accuracy_mean"])
    for key in ("100%-EER", "TPR@FAR=1%", "TPR@FAR=0.1%", "TPR@FAR=0%", "auc"):
        assert key in saved


def test_eval_lfw_bad_inputs(setup, tmp_path):
    test, ckpt = setup
    bad = tmp_path / "pairs.txt"
    bad.write_text("10\t300\nperson0000\t1\n")
    with pytest.raises(FaceIdError, match="pairs.txt"):
        eval_lfw.main(["--config", DEMO, "--preprocess", TINY_PRE, "--backbone_args", TINY_BB, "--data_root", test, "--pairs", str(bad)])
    missing = tmp_path / "missing.txt"
    missing.write_text("2\t1\nnobody\t1\t2\nnobody\t1\tother\t1\nnobody\t1\t2\nnobody\t2\tother\t1\n")
    with pytest.raises(FaceIdError, match=r"missing.txt: names 3 image\(s\) missing .* nobody/nobody_0001.jpg"):
        eval_lfw.main(["--config", DEMO, "--preprocess", TINY_PRE, "--backbone_args", TINY_BB, "--data_root", test, "--pairs", str(missing)])


@pytest.mark.parametrize("fmt,suffix", [("MINDIR", ".mindir"), ("ONNX", ".onnx")])
def test_export_parity(setup, tmp_path, fmt, suffix):
    _, ckpt = setup
    name = str(tmp_path / "lightcnn9")
    path, _ = export.main(["--config", DEMO, "--preprocess", TINY_PRE, "--backbone_args", TINY_BB, "--ckpt_file", ckpt, "--file_format", fmt,
                        "--file_name", name, "--batch_size_export", "2"])
    assert path == name + suffix and os.path.isfile(path)
    # independent reference: a fresh network loaded from the checkpoint
    net = BACKBONES.create("lightcnn9", input_size=(1, 32, 32))
    ms.load_param_into_net(net, ms.load_checkpoint(ckpt))
    net.set_train(False)
    x = np.random.default_rng(1).standard_normal((2, 1, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(run_exported(path, x)[0], net(ms.Tensor(x)).asnumpy(), atol=1e-4, rtol=0)


def test_export_air_refused_off_ascend(setup, tmp_path):
    _, ckpt = setup
    with pytest.raises(FaceIdError, match="AIR export needs the Ascend backend"):
        export.main(["--config", DEMO, "--preprocess", TINY_PRE, "--backbone_args", TINY_BB, "--ckpt_file", ckpt, "--file_format", "AIR",
                     "--file_name", str(tmp_path / "x")])
