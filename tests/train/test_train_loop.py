"""The shared training loop through lightcnn/train.py: loss falls, exact resume, NaN stop, checkpoints."""
import glob
import os

import mindspore as ms
import numpy as np
import pytest

from common.core.errors import FaceIdError
from common.train.checkpoint import CheckpointManager, load_weights, read
from lightcnn import train as lightcnn_train
from common.nets import BACKBONES
import lightcnn.src.lightcnn  # noqa: F401  (registers the LightCNN backbones)
from tests.helpers import lightcnn_tiny_args, make_data


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    train, test = make_data(root, train_ids=4, train_images=8)
    return train, test


def _weights(ckpt):
    return {k: v.asnumpy() for k, v in read(ckpt).items() if not k.startswith(("moments", "meta_"))}


def test_loss_falls(data, tmp_path):
    train, _ = data
    out = tmp_path / "run"
    res = lightcnn_train.main(lightcnn_tiny_args(out, train, epochs=6, optimizer="adam", lr=0.002, dropout=0.0,
                                                 param_groups="[]", warmup_epochs=0))
    log = open(out / "logs" / "train_rank0.log").read()
    losses = [float(l.split("] loss ")[1].split()[0]) for l in log.splitlines() if "] loss " in l]
    assert len(losses) == 24
    assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:4])
    assert "img/s" in log and "eta" in log and "data " in log
    # the resolved config (YAML defaults + the overrides above) is saved in the run folder
    import yaml
    saved = yaml.safe_load(open(out / "config.yaml"))
    assert saved["optimizer"] == "adam" and saved["lr"] == 0.002 and saved["epochs"] == 6
    assert saved["out_dir"] == str(out) and saved["preprocess"]["crop"] == 32
    assert res["checkpoint"].endswith("-e6-s24.ckpt")


def test_resume_continues_the_same_schedule(data, tmp_path):
    train, _ = data
    common = dict(epochs=2, dropout=0.0, optimizer="sgd", lr=0.01, save_every_steps=0, keep_ckpt=10)
    full = lightcnn_train.main(lightcnn_tiny_args(tmp_path / "full", train, **common))
    part = tmp_path / "part"
    first = lightcnn_train.main(lightcnn_tiny_args(part, train, max_steps=5, **common))
    assert first["global_step"] == 5 and first["checkpoint"].endswith("-e1-s5.ckpt")
    resumed = lightcnn_train.main(lightcnn_tiny_args(part, train, resume="true", **common))
    assert resumed["global_step"] == full["global_step"] == 8
    a, b = _weights(full["checkpoint"]), _weights(resumed["checkpoint"])
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=0, atol=1e-6, err_msg=k)
    # an interrupted run that is NOT resumed differs, so the comparison above can fail
    c = _weights(first["checkpoint"])
    assert any(not np.allclose(a[k], c[k]) for k in a if "weight" in k)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(data, tmp_path):
    train, _ = data
    out = tmp_path / "nan"
    lightcnn_train.main(lightcnn_tiny_args(out, train, epochs=1, save_every_steps=2, dropout=0.0, optimizer="sgd"))
    good = sorted(glob.glob(str(out / "ckpt" / "*.ckpt")))
    before = {f: open(f, "rb").read() for f in good}
    with pytest.raises(FaceIdError, match=r"loss is (nan|inf).*Last good checkpoint \(untouched\)"):
        lightcnn_train.main(lightcnn_tiny_args(out, train, epochs=2, resume="true", lr=1e30, dropout=0.0, optimizer="sgd",
                                               warmup_epochs=0, lr_schedule="constant"))
    after = sorted(glob.glob(str(out / "ckpt" / "*.ckpt")))
    assert after == good and all(open(f, "rb").read() == before[f] for f in good)
    assert not glob.glob(str(out / "ckpt" / ".tmp-*"))


def test_keep_last_k_and_atomic_names(tmp_path):
    net = BACKBONES.create("lightcnn9", input_size=(1, 32, 32))
    mgr = CheckpointManager(str(tmp_path), "m", keep=2)
    for step in (1, 2, 3):
        mgr.save(net, 0, step, step, 10)
    files = [os.path.basename(f) for f in mgr.list()]
    assert files == ["m-e0-s2.ckpt", "m-e0-s3.ckpt"]
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]


def test_checkpoint_of_another_class_count_is_refused(data, tmp_path):
    train, _ = data
    out = tmp_path / "cls"
    res = lightcnn_train.main(lightcnn_tiny_args(out, train, max_steps=1))
    from lightcnn.src.lightcnn import LightCNNClassifier
    from common.train.checkpoint import load_into
    other = LightCNNClassifier(BACKBONES.create("lightcnn9", input_size=(1, 32, 32)), 7)
    with pytest.raises(FaceIdError, match=r"does not fit this network \(the checkpoint was trained with 4 classes\)"):
        load_into(other, res["checkpoint"])
    # the backbone alone loads fine from the same file
    backbone = BACKBONES.create("lightcnn9", input_size=(1, 32, 32))
    meta = load_weights(backbone, res["checkpoint"])
    assert meta["meta_num_classes"] == 4


def test_unreadable_checkpoint(tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"garbage")
    with pytest.raises(FaceIdError, match="bad.ckpt: not a readable MindSpore checkpoint"):
        load_weights(BACKBONES.create("lightcnn9", input_size=(1, 32, 32)), str(bad))
    with pytest.raises(FaceIdError, match="checkpoint not found"):
        load_weights(BACKBONES.create("lightcnn9", input_size=(1, 32, 32)), str(tmp_path / "none.ckpt"))
