"""Backbone wiring vs a numpy re-implementation from the layer descriptions (eval mode, random BN stats)."""
import math

import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor

from common.nets import create_backbone
from common.nets.iresnet import IBasicBlock, IResNet
from common.nets.mobilefacenet import Bottleneck
from common.nets.spherenet import SphereNet
from common.core.env import set_device  # noqa: E402

set_device("CPU")


def conv(x, w, stride=1, pad=(0, 0, 0, 0), groups=1, bias=None):
    """NCHW convolution by im2col; weight (O, I/groups, kh, kw); pad (top, bottom, left, right)."""
    x = np.pad(x, ((0, 0), (0, 0), pad[:2], pad[2:]))
    n, _, h, wd = x.shape
    o, cg, kh, kw = w.shape
    ho, wo = (h - kh) // stride + 1, (wd - kw) // stride + 1
    cols = np.stack([np.stack([x[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride] for j in range(kw)], 2)
                     for i in range(kh)], 2)  # (N, C, kh, kw, Ho, Wo)
    if groups == 1:
        out = np.tensordot(cols, w, axes=([1, 2, 3], [1, 2, 3])).transpose(0, 3, 1, 2)
    else:
        cols = cols.reshape(n, groups, cg, kh, kw, ho, wo)
        out = np.einsum("ngcijuv,gocij->ngouv", cols, w.reshape(groups, o // groups, cg, kh, kw))
        out = out.reshape(n, o, ho, wo)
    return out if bias is None else out + bias[None, :, None, None]


def same_pad(h, w, stride, k=3):
    """TensorFlow SAME padding (the odd pixel goes to the bottom/right) as (top, bottom, left, right)."""
    pads = []
    for size in (h, w):
        total = max((math.ceil(size / stride) - 1) * stride + k - size, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


class Params:
    """Sets every parameter of ``cell`` (BN statistics included) to random values; eval mode; numpy by name."""

    def __init__(self, cell, seed=0):
        rng = np.random.default_rng(seed)
        self.p = {}
        for p in cell.get_parameters():
            name, shape = p.name, p.shape
            if name.endswith("moving_variance"):
                v = rng.uniform(0.5, 2.0, shape)
            elif name.endswith("gamma"):
                v = rng.uniform(0.5, 1.5, shape)
            elif name.endswith(".w"):  # PReLU alpha
                v = rng.uniform(0.05, 0.5, shape)
            elif len(shape) >= 2:
                v = rng.standard_normal(shape) / math.sqrt(np.prod(shape[1:]))
            else:
                v = 0.3 * rng.standard_normal(shape)
            p.set_data(Tensor(v.astype(np.float32)))
            self.p[name] = v.astype(np.float32).astype(np.float64)
        cell.set_train(False)

    def __getitem__(self, name):
        return self.p[name]

    def bn(self, x, pre, eps):
        shape = (1, -1, 1, 1) if x.ndim == 4 else (1, -1)
        g, b, m, v = (self[pre + k].reshape(shape) for k in ("gamma", "beta", "moving_mean", "moving_variance"))
        return (x - m) / np.sqrt(v + eps) * g + b

    def prelu(self, x, name):
        a = self[name].reshape((1, -1, 1, 1) if x.ndim == 4 else (1, -1))
        return np.maximum(x, 0) + a * np.minimum(x, 0)

    def dense(self, x, pre):
        y = x @ self[pre + "weight"].T
        return y + self[pre + "bias"] if pre + "bias" in self.p else y


def check(cell, x, reference):
    got = cell(Tensor(x.astype(np.float32))).asnumpy()
    want = reference(x.astype(np.float32).astype(np.float64))
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-4 * max(1.0, np.abs(want).max())


# IResNet: BN -> conv3x3 -> BN -> PReLU -> conv3x3(stride) -> BN, + identity or conv1x1(stride)+BN; BN eps 1e-5
def np_ibasic(P, x, pre, stride, down):
    y = P.bn(x, pre + "body.0.", 1e-5)
    y = P.bn(conv(y, P[pre + "body.1.weight"], 1, (1, 1, 1, 1)), pre + "body.2.", 1e-5)
    y = P.prelu(y, pre + "body.3.w")
    y = P.bn(conv(y, P[pre + "body.4.weight"], stride, (1, 1, 1, 1)), pre + "body.5.", 1e-5)
    if down:
        x = P.bn(conv(x, P[pre + "downsample.0.weight"], stride), pre + "downsample.1.", 1e-5)
    return y + x


@pytest.mark.parametrize("cin,cout,stride", [(3, 5, 2), (4, 4, 1)])
def test_ibasic_block(cin, cout, stride):
    block = IBasicBlock(cin, cout, stride)
    P = Params(block)
    x = np.random.default_rng(1).standard_normal((2, cin, 6, 6))
    check(block, x, lambda v: np_ibasic(P, v, "", stride, stride != 1))


def test_iresnet_whole_net():
    net = IResNet((1, 1, 1, 1), embedding_size=16)
    P = Params(net, seed=2)

    def reference(x):
        x = P.prelu(P.bn(conv(x, P["stem.0.weight"], 1, (1, 1, 1, 1)), "stem.1.", 1e-5), "stem.2.w")
        for k in range(4):
            x = np_ibasic(P, x, f"stages.{k}.", 2, True)
        x = P.bn(x, "bn2.", 1e-5).reshape(x.shape[0], -1)  # (C, H, W) flatten order
        return P.bn(P.dense(x, "fc."), "features.", 1e-5)

    check(net, np.random.default_rng(3).standard_normal((1, 3, 112, 112)), reference)


# MobileFaceNet: conv (+BN, +PReLU unless linear); 3x3 convs pad 1, others pad 0
def np_convbn(P, x, pre, stride=1, depthwise=False, linear=False):
    w = P[pre + "block.0.weight"]
    pad = (1,) * 4 if w.shape[-1] == 3 else (0,) * 4
    y = P.bn(conv(x, w, stride, pad, x.shape[1] if depthwise else 1), pre + "block.1.", 1e-5)
    return y if linear else P.prelu(y, pre + "block.2.w")


def np_bottleneck(P, x, pre, stride, residual):
    y = np_convbn(P, x, pre + "body.0.")
    y = np_convbn(P, y, pre + "body.1.", stride, depthwise=True)
    y = np_convbn(P, y, pre + "body.2.", linear=True)
    return x + y if residual else y


@pytest.mark.parametrize("cin,cout,stride,t", [(4, 4, 1, 2), (4, 6, 2, 4)])
def test_mobilefacenet_bottleneck(cin, cout, stride, t):
    block = Bottleneck(cin, cout, stride, t)
    P = Params(block)
    x = np.random.default_rng(4).standard_normal((2, cin, 8, 8))
    check(block, x, lambda v: np_bottleneck(P, v, "", stride, stride == 1 and cin == cout))


def test_mobilefacenet_whole_net():
    net = create_backbone("mobilefacenet")
    P = Params(net, seed=5)

    def reference(x):
        x = np_convbn(P, x, "body.0.", 2)
        x = np_convbn(P, x, "body.1.", depthwise=True)
        k, cin = 2, 64
        for t, c, n, s in ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1)):
            for i in range(n):
                stride = s if i == 0 else 1
                x = np_bottleneck(P, x, f"body.{k}.", stride, stride == 1 and cin == c)
                k, cin = k + 1, c
        x = np_convbn(P, x, f"body.{k}.")
        x = np_convbn(P, x, f"body.{k + 1}.", depthwise=True, linear=True)
        assert x.shape[2:] == (1, 1)
        return np_convbn(P, x, f"body.{k + 2}.", linear=True).reshape(x.shape[0], -1)

    check(net, np.random.default_rng(6).standard_normal((1, 3, 112, 112)), reference)


# SphereNet: stride-2 conv with bias + PReLU, then units x + PReLU(conv(PReLU(conv(x)))); TF SAME padding
def np_sphere_features(P, x, layers):
    k = 0
    for n in layers:
        pad = same_pad(x.shape[2], x.shape[3], 2)
        x = P.prelu(conv(x, P[f"trunk.{k}.weight"], 2, pad, bias=P[f"trunk.{k}.bias"]), f"trunk.{k + 1}.w")
        k += 2
        for _ in range(n):
            pre = f"trunk.{k}.body."
            y = P.prelu(conv(x, P[pre + "0.weight"], 1, (1, 1, 1, 1)), pre + "1.w")
            x = x + P.prelu(conv(y, P[pre + "2.weight"], 1, (1, 1, 1, 1)), pre + "3.w")
            k += 1
    return x.reshape(x.shape[0], -1)


def test_spherenet_features_and_embedding():
    layers = (1, 2, 1, 1)
    net = SphereNet(layers, (4, 8, 8, 16), embedding_size=8)
    P = Params(net, seed=7)
    x = np.random.default_rng(8).standard_normal((2, 3, 112, 96))
    check(net, x, lambda v: P.bn(P.dense(np_sphere_features(P, v, layers), "fc."), "bn.", 1e-3))
    feats = net.forward_features(Tensor(x.astype(np.float32))).asnumpy()
    want = np_sphere_features(P, x, layers)
    assert feats.shape == (2, 16 * 7 * 6)
    assert np.abs(feats - want).max() <= 1e-4 * np.abs(want).max()


def test_spherenet_odd_input_uses_tf_same_padding():
    """On 9x7 the stride-2 SAME pads are (1, 1, 1, 1); on 8x6 they are (0, 1, 0, 1): both must match."""
    net = SphereNet((0, 0, 0, 0), (2, 2, 2, 2), embedding_size=4)
    P = Params(net, seed=9)
    for h, w in ((9, 7), (8, 6)):
        x = np.random.default_rng(h).standard_normal((1, 3, h, w))
        got = net.forward_features(Tensor(x.astype(np.float32))).asnumpy()
        want = np_sphere_features(P, x, (0, 0, 0, 0))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
