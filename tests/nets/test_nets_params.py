"""Backbone parameter / MAC counts vs layer-table arithmetic and published numbers; shapes; flops tool."""
import mindspore as ms
import numpy as np
import pytest

from common.core.errors import FaceIdError
from mindspore import Tensor, nn

from common.nets import BACKBONES, create_backbone
from common.nets.flops import count_macs, count_params, forward_ms, main
from common.core.env import set_device  # noqa: E402

set_device("CPU")


def iresnet_table(layers, hw=112):
    """(params, MACs) of IResNet from its layer table: conv = k*k*cin*cout, BN = 2c, PReLU = c."""
    p = 27 * 64 + 2 * 64 + 64
    macs = hw * hw * 64 * 27
    cin = 64
    for n, cout in zip(layers, (64, 128, 256, 512)):
        for i in range(n):
            stride = 2 if i == 0 else 1
            out = hw // stride
            p += 2 * cin + 9 * cin * cout + 2 * cout + cout + 9 * cout * cout + 2 * cout
            macs += hw * hw * 9 * cin * cout + out * out * 9 * cout * cout
            if stride != 1 or cin != cout:
                p += cin * cout + 2 * cout
                macs += out * out * cin * cout
            cin, hw = cout, out
    p += 2 * 512 + 25088 * 512 + 512 + 2 * 512
    return p, macs + 25088 * 512


def mobilefacenet_table(emb=128):
    """Each row: (cin, cout, k, groups, out_hw, prelu); every conv is bias-free with BN."""
    rows = [(3, 64, 3, 1, 56, True), (64, 64, 3, 64, 56, True)]
    cin, hw = 64, 56
    for t, c, n, s in ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1)):
        for i in range(n):
            stride = s if i == 0 else 1
            mid = cin * t
            rows += [(cin, mid, 1, 1, hw, True), (mid, mid, 3, mid, hw // stride, True),
                     (mid, c, 1, 1, hw // stride, False)]
            cin, hw = c, hw // stride
    rows += [(128, 512, 1, 1, 7, True), (512, 512, 7, 512, 1, False), (512, emb, 1, 1, 1, False)]
    p = sum(k * k * ci // g * co + 2 * co + (co if pr else 0) for ci, co, k, g, _, pr in rows)
    macs = sum(hw * hw * co * k * k * ci // g for ci, co, k, g, hw, _ in rows)
    return p, macs


def spherenet_table(layers, widths=(64, 128, 256, 512), h=112, w=96, emb=512):
    p = macs = 0
    cin = 3
    for n, c in zip(layers, widths):
        h, w = (h + 1) // 2, (w + 1) // 2
        p += 9 * cin * c + c + c                      # transition conv + bias + PReLU
        macs += h * w * 9 * cin * c
        p += n * 2 * (9 * c * c + c)                  # residual convs (no bias) + PReLU
        macs += n * 2 * h * w * 9 * c * c
        cin = c
    feat = cin * h * w
    return p + feat * emb + 2 * emb, macs + feat * emb


TABLES = {"iresnet50": iresnet_table((3, 4, 14, 3)), "iresnet100": iresnet_table((3, 13, 30, 3)),
          "mobilefacenet": mobilefacenet_table(), "spherenet64": spherenet_table((3, 8, 16, 3))}
PUBLISHED = {"iresnet50": (43.59e6, 6.31e9), "iresnet100": (65.16e6, 12.1e9),
             "mobilefacenet": (1.0e6, 0.22e9), "spherenet64": (48.19e6, 6.11e9)}


@pytest.fixture(scope="module")
def counted():
    """Build each big net once and count it (one batch-1 forward each)."""
    out = {}
    for name in TABLES:
        net = create_backbone(name)
        out[name] = (net, count_params(net), count_macs(net))
    return out


@pytest.mark.parametrize("name", sorted(TABLES))
def test_counts_equal_layer_table_arithmetic(counted, name):
    _, params, macs = counted[name]
    assert (params, macs) == TABLES[name]


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_counts_within_one_percent_of_published(counted, name):
    _, params, macs = counted[name]
    want_p, want_m = PUBLISHED[name]
    assert abs(params / want_p - 1) < 0.01 and abs(macs / want_m - 1) < 0.01


@pytest.mark.parametrize("name,frozen", [("iresnet100", "features.gamma"), ("spherenet64", "bn.gamma")])
def test_embedding_bn_gamma_frozen(counted, name, frozen):
    net, params, _ = counted[name]
    trainable = {p.name for p in net.trainable_params()}
    assert frozen not in trainable and "fc.weight" in trainable
    assert sum(int(np.prod(p.shape)) for p in net.trainable_params()) == params - 512


def test_contract_attributes(counted):
    for name, (net, _, _) in counted.items():
        assert isinstance(net, nn.Cell)
        assert net.embedding_size == (128 if name == "mobilefacenet" else 512)
        assert net.input_size == ((3, 112, 96) if name.startswith("sphere") else (3, 112, 112))
    assert set(BACKBONES.names()) >= {"iresnet18", "iresnet34", "iresnet50", "iresnet100", "mobilefacenet",
                                      "spherenet20", "spherenet64",
                                      "mbf", "mbf_large", "spherenet20a"}  # the last three: imported public layouts


@pytest.mark.parametrize("name,kw,dim", [("iresnet18", {"embedding_size": 128, "dropout": 0.4}, 128),
                                         ("mobilefacenet", {}, 128),
                                         ("spherenet20", {"widths": (8, 16, 32, 64), "embedding_size": 32}, 32)])
def test_output_shape_batch2(name, kw, dim):
    net = create_backbone(name, **kw)
    net.set_train(False)
    x = np.random.default_rng(0).standard_normal((2,) + net.input_size).astype(np.float32)
    y = net(Tensor(x)).asnumpy()
    assert y.shape == (2, dim) and y.dtype == np.float32 and np.isfinite(y).all()
    assert np.abs(y[0] - y[1]).max() > 0


def test_spherenet_forward_features_and_small_counts():
    net = create_backbone("spherenet20", widths=(8, 16, 32, 64), embedding_size=32)
    feats = net.forward_features(Tensor(np.ones((2, 3, 112, 96), np.float32))).asnumpy()
    assert feats.shape == (2, 64 * 7 * 6) == (2, net.feature_size)
    assert (count_params(net), count_macs(net)) == spherenet_table((1, 2, 4, 1), (8, 16, 32, 64), emb=32)


class Tiny(nn.Cell):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 6, 3, stride=2, pad_mode="pad", padding=1, has_bias=True)
        self.dw = nn.Conv2d(6, 6, 3, pad_mode="same", group=6)
        self.bn = nn.BatchNorm2d(6)
        self.fc = nn.Dense(6 * 5 * 4, 7)

    def construct(self, x):
        return self.fc(self.bn(self.dw(self.conv(x))).reshape(x.shape[0], -1))


def test_count_tiny_net_by_hand():
    net = Tiny()
    assert count_params(net) == (4 * 6 * 9 + 6) + 6 * 9 + 2 * 6 + (120 * 7 + 7)  # moving stats excluded
    assert count_macs(net, (4, 10, 8)) == 5 * 4 * 6 * 36 + 5 * 4 * 6 * 9 + 120 * 7


def test_count_and_time_restore_mode_and_training():
    net = Tiny()
    net.set_train(True)
    ms.set_context(mode=ms.PYNATIVE_MODE)
    count_macs(net, (4, 10, 8))
    assert forward_ms(net, (4, 10, 8), repeats=2) > 0
    assert net.training and ms.get_context("mode") == ms.PYNATIVE_MODE


def test_cli(capsys):
    main(["mobilefacenet"])
    assert "mobilefacenet: input (3, 112, 112), embedding 128, 1.00 M params, 0.221 GMACs" in capsys.readouterr().out
    with pytest.raises(FaceIdError, match="unknown backbone 'resnet9'"):
        main(["resnet9"])
