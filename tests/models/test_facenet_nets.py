"""FaceNet backbones: parameter counts from the layer tables, output shapes, registry, parameter names."""
import numpy as np
import pytest

import mindspore as ms

from common.nets import BACKBONES
import facenet.src.nets  # noqa: F401  (registers the FaceNet backbones)
from common.core.env import set_device  # noqa: E402

set_device("CPU")


def conv(cin, cout, kh, kw=None, bias=False, bn=True):
    """Parameters of a conv (+ bias) (+ BN gamma/beta)."""
    kw = kh if kw is None else kw
    return cin * cout * kh * kw + (cout if bias else 0) + (2 * cout if bn else 0)


def inception_resnet_v1_count():
    stem = conv(3, 32, 3) + conv(32, 32, 3) + conv(32, 64, 3) + conv(64, 80, 1) + conv(80, 192, 3) + conv(192, 256, 3)
    b35 = (conv(256, 32, 1) + conv(256, 32, 1) + conv(32, 32, 3) + conv(256, 32, 1) + 2 * conv(32, 32, 3)
           + conv(96, 256, 1, bias=True, bn=False))
    m6a = conv(256, 384, 3) + conv(256, 192, 1) + conv(192, 192, 3) + conv(192, 256, 3)
    b17 = (conv(896, 128, 1) + conv(896, 128, 1) + conv(128, 128, 1, 7) + conv(128, 128, 7, 1)
           + conv(256, 896, 1, bias=True, bn=False))
    m7a = 3 * conv(896, 256, 1) + conv(256, 384, 3) + conv(256, 256, 3) + 2 * conv(256, 256, 3)
    b8 = (conv(1792, 192, 1) + conv(1792, 192, 1) + conv(192, 192, 1, 3) + conv(192, 192, 3, 1)
          + conv(384, 1792, 1, bias=True, bn=False))
    head = 1792 * 512 + 2 * 512
    return stem + 5 * b35 + m6a + 10 * b17 + m7a + 6 * b8 + head


def resnet50_fc128_count():
    total = conv(3, 64, 7)
    cin = 64
    for mid, blocks in ((64, 3), (128, 4), (256, 6), (512, 3)):
        for i in range(blocks):
            total += conv(cin, mid, 1) + conv(mid, mid, 3) + conv(mid, 4 * mid, 1)
            if i == 0:
                total += conv(cin, 4 * mid, 1)
            cin = 4 * mid
    return total + 2048 * 7 * 7 * 128 + 128


def trainable(net):
    return sum(int(np.prod(p.shape)) for p in net.trainable_params())


def test_registry_names():
    assert {"inception_resnet_v1", "resnet50_fc128"} <= set(BACKBONES.names())
    with pytest.raises(KeyError, match="unknown backbone 'nn4'"):
        BACKBONES.get("nn4")


def test_inception_resnet_v1_parameter_count():
    net = BACKBONES.create("inception_resnet_v1")
    expected = inception_resnet_v1_count()
    assert trainable(net) == expected
    assert abs(expected - 23.5e6) / 23.5e6 < 0.01


def test_resnet50_fc128_parameter_count():
    net = BACKBONES.create("resnet50_fc128")
    expected = resnet50_fc128_count()
    assert trainable(net) == expected
    assert abs(expected - 36.4e6) / 36.4e6 < 0.01


def test_facenet_pytorch_parameter_names():
    names = set(BACKBONES.create("inception_resnet_v1").parameters_dict())
    for key in ("conv2d_1a.conv.weight", "conv2d_1a.bn.moving_mean", "repeat_1.0.branch0.conv.weight",
                "repeat_1.4.branch2.2.bn.gamma", "repeat_2.9.conv2d.bias", "mixed_6a.branch1.2.conv.weight",
                "mixed_7a.branch2.2.bn.beta", "repeat_3.4.branch1.2.conv.weight", "block8.conv2d.weight",
                "last_linear.weight", "last_bn.moving_variance"):
        assert key in names, key
    conv_bn_units = 6 + 5 * 6 + 4 + 10 * 4 + 7 + 6 * 4  # stem, Block35, Mixed_6a, Block17, Mixed_7a, Block8
    residual_convs = 5 + 10 + 6
    assert len(names) == 5 * conv_bn_units + 2 * residual_convs + 1 + 4  # + last_linear + last_bn


@pytest.mark.parametrize("name,size,dim", [("inception_resnet_v1", 160, 512), ("resnet50_fc128", 224, 128)])
def test_output_shape_and_attributes(name, size, dim):
    net = BACKBONES.create(name)
    net.set_train(False)
    assert net.input_size == (3, size, size) and net.embedding_size == dim
    x = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
    y = net(ms.Tensor(x)).asnumpy()
    assert y.shape == (2, dim) and np.isfinite(y).all()


def test_normalize_flag_gives_unit_rows_of_the_same_direction():
    x = ms.Tensor(np.random.default_rng(1).uniform(-1, 1, (2, 3, 160, 160)).astype(np.float32))
    net = BACKBONES.create("inception_resnet_v1")
    net.set_train(False)
    raw = net(x).asnumpy()
    # a second net with the same weights (a flag flipped on a compiled graph-mode net would not recompile)
    net_unit = BACKBONES.create("inception_resnet_v1", normalize=True)
    ms.load_param_into_net(net_unit, {p.name: p.clone() for p in net.get_parameters()})
    net_unit.set_train(False)
    unit = net_unit(x).asnumpy()
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_train_mode_dropout_changes_output():
    x = ms.Tensor(np.random.default_rng(2).uniform(-1, 1, (2, 3, 160, 160)).astype(np.float32))
    net = BACKBONES.create("inception_resnet_v1", dropout_prob=0.6)
    net.set_train(True)
    a, b = net(x).asnumpy(), net(x).asnumpy()
    assert a.shape == (2, 512) and not np.allclose(a, b)
