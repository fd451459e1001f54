"""facenet-pytorch state_dict -> MindSpore: equal embeddings with an independent torch model; clear key errors."""
import re

import numpy as np
import pytest

from common.core.errors import FaceIdError

import mindspore as ms

from facenet.convert_torch import convert, main, rename_torch_keys
from facenet.src.inception_resnet_v1 import InceptionResnetV1
from common.core.env import set_device  # noqa: E402

set_device("CPU")

TORCH_FIELDS = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


def fake_torch_state_dict(net):
    """A facenet-pytorch-style dict built by hand from the MindSpore shapes (no torch needed)."""
    sd = {}
    for name, param in net.parameters_dict().items():
        prefix, _, field = name.rpartition(".")
        sd[f"{prefix}.{TORCH_FIELDS.get(field, field)}"] = np.zeros(param.shape, np.float32)
        if field == "moving_mean":
            sd[f"{prefix}.num_batches_tracked"] = np.array(3)
    sd["logits.weight"] = np.zeros((8631, 512), np.float32)
    return sd


def test_rename_rules():
    sd = {"a.bn.weight": np.ones(2), "a.bn.bias": np.ones(2), "a.bn.running_mean": np.ones(2),
          "a.bn.running_var": np.ones(2), "a.bn.num_batches_tracked": np.array(1), "a.conv.weight": np.ones(1),
          "a.conv2d.bias": np.ones(1), "logits.weight": np.ones(1), "logits.bias": np.ones(1)}
    assert sorted(rename_torch_keys(sd)) == ["a.bn.beta", "a.bn.gamma", "a.bn.moving_mean", "a.bn.moving_variance",
                                             "a.conv.weight", "a.conv2d.bias"]


def test_key_and_shape_errors_are_listed():
    net = InceptionResnetV1()
    sd = fake_torch_state_dict(net)
    assert len(convert(sd, net)) == len(net.parameters_dict())
    del sd["repeat_2.3.branch1.1.bn.running_var"]
    sd["extra.layer.weight"] = np.zeros(3, np.float32)
    sd["last_linear.weight"] = np.zeros((128, 1792), np.float32)
    with pytest.raises(ValueError) as err:
        convert(sd, net, source="m.pt")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("error: m.pt: ")
    assert "unknown keys (1): extra.layer.weight" in msg
    assert "missing keys (1): repeat_2.3.branch1.1.bn.moving_variance" in msg
    assert "shape mismatches (1): last_linear.weight (128, 1792) vs (512, 1792)" in msg


def test_cli_errors(tmp_path):
    with pytest.raises(FaceIdError, match=re.escape(f"{tmp_path / 'no.pt'}: file not found")):
        main(["--pt", str(tmp_path / "no.pt"), "--out", str(tmp_path / "o.ckpt")])


def test_converted_checkpoint_gives_equal_embeddings(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch not installed: converter equality test skipped")
    from tests.torch_nets import TorchInceptionResnetV1

    torch.manual_seed(0)
    tnet = TorchInceptionResnetV1()
    with torch.no_grad():  # non-trivial BN statistics and affine terms, so a wrong mapping shows
        for mod in tnet.modules():
            if isinstance(mod, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
    tnet.eval()
    pt = tmp_path / "sd.pt"
    torch.save(tnet.state_dict(), pt)
    torch.save({"x": 1}, tmp_path / "bad.pt")
    with pytest.raises(FaceIdError, match="not a state_dict"):
        main(["--pt", str(tmp_path / "bad.pt"), "--out", str(tmp_path / "bad.ckpt")])

    ckpt = tmp_path / "facenet.ckpt"
    main(["--pt", str(pt), "--out", str(ckpt)])
    net = InceptionResnetV1()
    not_loaded, _ = ms.load_param_into_net(net, ms.load_checkpoint(str(ckpt)), strict_load=True)
    assert not not_loaded
    net.set_train(False)

    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 160, 160)).astype(np.float32)
    with torch.no_grad():
        ref = tnet(torch.from_numpy(x)).numpy()
    out = net(ms.Tensor(x)).asnumpy()
    assert np.abs(ref).max() > 0.1
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out / np.linalg.norm(out, axis=1, keepdims=True),
                               ref / np.linalg.norm(ref, axis=1, keepdims=True), atol=1e-4)
