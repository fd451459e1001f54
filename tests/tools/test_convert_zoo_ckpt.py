"""Old MindSpore zoo checkpoints -> this zoo: a network written here in the OLD layout and naming (as the old
folders named their layers), saved as the old training wrapper saved it, converted with
``python -m common.convert_zoo_ckpt``, loaded into this zoo's backbone: the same embeddings (within 1e-5)."""
import os

import numpy as np
import pytest

import common.core.env  # noqa: F401
import mindspore as ms
from mindspore import nn, ops

from common.tools.convert_zoo_ckpt import main as convert_main
from common.core.errors import FaceIdError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ms.set_context(mode=ms.PYNATIVE_MODE)


def _randomize(net, seed):
    rng = np.random.default_rng(seed)
    for p in net.get_parameters():
        shape = tuple(p.shape)
        if p.name.endswith("moving_variance"):
            v = rng.uniform(0.5, 2.0, shape)
        elif p.name.endswith(("gamma", ".w")):
            v = rng.uniform(0.5, 1.5, shape)
        else:
            v = rng.normal(0, 0.05, shape)
        p.set_data(ms.Tensor(v.astype(np.float32)))


def _save_old(net, path, prefix="", extra=()):
    """As the old zoo saved its training network: wrapper prefix, plus optimizer state and counters."""
    items = [{"name": prefix + p.name, "data": p.data} for p in net.get_parameters()]
    items += [{"name": "moments." + prefix + p.name, "data": p.data} for p in list(net.get_parameters())[:3]]
    items += [{"name": "global_step", "data": ms.Tensor(np.array([7], np.int32))}] + list(extra)
    ms.save_checkpoint(items, str(path))


def _ours(model, new_ckpt, config):
    from common.tools.convert_zoo_ckpt import backbone_for
    from common.train.checkpoint import load_weights

    net, _ = backbone_for(model, str(config) if config else None)
    load_weights(net, str(new_ckpt))
    net.set_train(False)
    return net


def _l2(x):
    x = x.asnumpy().reshape(x.shape[0], -1).astype(np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _round_trip(tmp_path, model, old_net, old_forward, x, config=None, prefix=""):
    old_net.set_train(False)
    old_ckpt, new_ckpt = tmp_path / "old.ckpt", tmp_path / "new.ckpt"
    _save_old(old_net, old_ckpt, prefix)
    convert_main(["--model", model, "--in", str(old_ckpt), "--out", str(new_ckpt)] +
                 (["--config", str(config)] if config else []))
    ours = _ours(model, new_ckpt, config)
    xt = ms.Tensor(x)
    want, got = _l2(old_forward(old_net, xt)), _l2(ours(xt))
    np.testing.assert_allclose(got, want, atol=1e-5)
    # the test can fail: this zoo's network without the converted weights gives other embeddings
    from common.tools.convert_zoo_ckpt import backbone_for

    fresh, _ = backbone_for(model, str(config) if config else None)
    fresh.set_train(False)
    assert np.abs(_l2(fresh(xt)) - want).max() > 1e-3
    return old_ckpt


# ---- LightCNN-9, old layout: Mfm(filter) convs in 'features', fc1 = Mfm Dense, fc2 classifier
class OldMfm(nn.Cell):
    def __init__(self, cin, cout, k=3, dense=False):
        super().__init__()
        self.filter = nn.Dense(cin, 2 * cout) if dense else nn.Conv2d(cin, 2 * cout, k, pad_mode="same",
                                                                         has_bias=True)

        self.half = cout

    def construct(self, x):
        a, b = ops.split(self.filter(x), self.half, axis=1)
        return ops.maximum(a, b)


class OldGroup(nn.Cell):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv_a = OldMfm(cin, cin, 1)
        self.conv = OldMfm(cin, cout, 3)

    def construct(self, x):
        return self.conv(self.conv_a(x))


class OldLightCNN9(nn.Cell):
    def __init__(self, side, classes=10):
        super().__init__()
        self.features = nn.SequentialCell([OldMfm(1, 48, 5), nn.MaxPool2d(2, 2), OldGroup(48, 96), nn.MaxPool2d(2, 2),
                                           OldGroup(96, 192), nn.MaxPool2d(2, 2), OldGroup(192, 128),
                                           OldGroup(128, 128), nn.MaxPool2d(2, 2)])
        self.fc1 = OldMfm((side // 16) ** 2 * 128, 256, dense=True)
        self.fc2 = nn.Dense(256, classes)

    def embed(self, x):
        return self.fc1(ops.flatten(self.features(x)))


def test_lightcnn9(tmp_path):
    cfg = tmp_path / "lightcnn9_32.yaml"
    cfg.write_text(f"base: {ROOT}/lightcnn/configs/lightcnn9.yaml\nbackbone_args: {{input_size: [1, 32, 32]}}\n"
                   "preprocess: {channels: 1, resize: 36, crop: 32, mean: 0.0, std: 255.0, flip: true}\n")
    old = OldLightCNN9(32)
    _randomize(old, 1)
    x = np.random.default_rng(0).uniform(0, 1, (2, 1, 32, 32)).astype(np.float32)
    _round_trip(tmp_path, "lightcnn9", old, lambda n, t: n.embed(t), x, cfg)


# ---- CosFace MobileFaceNet, old layout: ConvBlock(conv, bn, prelu), Bottleneck(conv1..bn3 + 'conv' sequence)
class OldConvBlock(nn.Cell):
    def __init__(self, cin, cout, k, s, p, dw=False, linear=False):
        super().__init__()
        self.linear = linear
        self.conv = nn.Conv2d(cin, cout, k, s, pad_mode="pad", padding=p, group=cin if dw else 1)
        self.bn = nn.BatchNorm2d(cout)
        if not linear:
            self.prelu = nn.PReLU(cout)

    def construct(self, x):
        x = self.bn(self.conv(x))
        return x if self.linear else self.prelu(x)


class OldBottleneck(nn.Cell):
    def __init__(self, cin, cout, s, t):
        super().__init__()
        mid = cin * t
        self.connect = s == 1 and cin == cout
        self.conv1, self.bn1, self.prelu1 = nn.Conv2d(cin, mid, 1), nn.BatchNorm2d(mid), nn.PReLU(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, s, pad_mode="pad", padding=1, group=mid)
        self.bn2, self.prelu2 = nn.BatchNorm2d(mid), nn.PReLU(mid)
        self.conv3, self.bn3 = nn.Conv2d(mid, cout, 1), nn.BatchNorm2d(cout)
        self.conv = nn.SequentialCell([self.conv1, self.bn1, self.prelu1, self.conv2, self.bn2, self.prelu2,
                                       self.conv3, self.bn3])

    def construct(self, x):
        return x + self.conv(x) if self.connect else self.conv(x)


class OldMobileFaceNet(nn.Cell):
    def __init__(self):
        super().__init__()
        self.conv1 = OldConvBlock(3, 64, 3, 2, 1)
        self.dw_conv1 = OldConvBlock(64, 64, 3, 1, 1, dw=True)
        blocks, cin = [], 64
        for t, c, n, s in ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1)):
            for i in range(n):
                blocks.append(OldBottleneck(cin, c, s if i == 0 else 1, t))
                cin = c
        self.blocks = nn.SequentialCell(blocks)
        self.conv2 = OldConvBlock(128, 512, 1, 1, 0)
        self.linear7 = OldConvBlock(512, 512, 7, 1, 0, dw=True, linear=True)
        self.linear1 = OldConvBlock(512, 128, 1, 1, 0, linear=True)

    def construct(self, x):
        x = self.linear1(self.linear7(self.conv2(self.blocks(self.dw_conv1(self.conv1(x))))))
        return x.reshape(x.shape[0], -1)


def test_cosface_mobilefacenet(tmp_path):
    old = OldMobileFaceNet()
    _randomize(old, 2)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 112, 112)).astype(np.float32)
    _round_trip(tmp_path, "cosface_mobilefacenet", old, lambda n, t: n(t), x, prefix="backbone.")


# ---- LResNet100E-IR (IResNet), old layout: conv1/bn1/prelu, layer1..4 IBasicBlocks, bn2, fc, features
class OldIBlock(nn.Cell):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, pad_mode="pad", padding=1)
        self.bn2 = nn.BatchNorm2d(cout)
        self.prelu = nn.PReLU(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride, pad_mode="pad", padding=1)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.SequentialCell([nn.Conv2d(cin, cout, 1, stride), nn.BatchNorm2d(cout)])

    def construct(self, x):
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


class OldIResNet(nn.Cell):
    def __init__(self, layers, widths, features=512):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, pad_mode="pad", padding=1)
        self.bn1, self.prelu = nn.BatchNorm2d(widths[0]), nn.PReLU(widths[0])
        cin, stages = widths[0], []
        for n, w in zip(layers, widths):
            blocks = [OldIBlock(cin, w, 2)] + [OldIBlock(w, w, 1) for _ in range(n - 1)]
            cin = w
            stages.append(nn.SequentialCell(blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.bn2 = nn.BatchNorm2d(cin)
        self.fc = nn.Dense(cin * 49, features)
        self.features = nn.BatchNorm1d(features)

    def construct(self, x):
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.features(self.fc(ops.flatten(self.bn2(x))))


def test_lresnet100e_ir(tmp_path):
    cfg = tmp_path / "ir_small.yaml"
    cfg.write_text(f"base: {ROOT}/lresnet100e_ir/configs/arcface_r100_ms1mv2.yaml\nbackbone: iresnet18\n"
                   "backbone_args: {embedding_size: 64, widths: [16, 32, 48, 64]}\n")
    old = OldIResNet((2, 2, 2, 2), (16, 32, 48, 64), 64)
    _randomize(old, 3)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 112, 112)).astype(np.float32)
    _round_trip(tmp_path, "lresnet100e_ir", old, lambda n, t: n(t), x, cfg)


# ---- FaceNet ResNet-50 + FC128, old layout: resnet50_backbone (down_sample_layer), resnet50_backbone_fc.1
class OldBottleneck50(nn.Cell):
    def __init__(self, cin, cout, stride):
        super().__init__()
        mid = cout // 4
        self.conv1, self.bn1 = nn.Conv2d(cin, mid, 1), nn.BatchNorm2d(mid, eps=1e-4)
        self.conv2, self.bn2 = nn.Conv2d(mid, mid, 3, stride, pad_mode="same"), nn.BatchNorm2d(mid, eps=1e-4)
        self.conv3, self.bn3 = nn.Conv2d(mid, cout, 1), nn.BatchNorm2d(cout, eps=1e-4)
        self.relu = nn.ReLU()
        self.down_sample = stride != 1 or cin != cout
        self.down_sample_layer = None
        if self.down_sample:
            self.down_sample_layer = nn.SequentialCell([nn.Conv2d(cin, cout, 1, stride),
                                                        nn.BatchNorm2d(cout, eps=1e-4)])

    def construct(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (self.down_sample_layer(x) if self.down_sample else x))


class OldResNet50(nn.Cell):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, pad_mode="same"), nn.BatchNorm2d(64, eps=1e-4)
        self.relu, self.maxpool = nn.ReLU(), nn.MaxPool2d(3, 2, pad_mode="same")
        cin, stages = 64, []
        for n, cout, s in ((3, 256, 1), (4, 512, 2), (6, 1024, 2), (3, 2048, 2)):
            stages.append(nn.SequentialCell([OldBottleneck50(cin if i == 0 else cout, cout, s if i == 0 else 1)
                                             for i in range(n)]))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.end_point = nn.Dense(2048, 10)

    def construct(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class OldFaceNet(nn.Cell):
    def __init__(self):
        super().__init__()
        self.resnet50_backbone = OldResNet50()
        self.resnet50_backbone_fc = nn.SequentialCell([nn.Flatten(), nn.Dense(100352, 128)])
        self.resnet50_backbone_classifier = nn.Dense(128, 10)

    def construct(self, x):
        f = self.resnet50_backbone_fc(self.resnet50_backbone(x))
        return f / ops.sqrt((f * f).sum(1, keepdims=True) + 1e-10) * 10  # the old net's scaled L2 output


def test_facenet_resnet50(tmp_path):
    old = OldFaceNet()
    _randomize(old, 4)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 224, 224)).astype(np.float32)
    _round_trip(tmp_path, "facenet_resnet50", old, lambda n, t: n(t), x, prefix="network.")


def test_wrong_model_says_what_is_missing(tmp_path):
    old = OldLightCNN9(32)
    path = tmp_path / "old.ckpt"
    _save_old(old, path)
    with pytest.raises(FaceIdError, match=r"lacks \d+ parameter\(s\)"):
        convert_main(["--model", "cosface_mobilefacenet", "--in", str(path), "--out", str(tmp_path / "x.ckpt")])
    assert not (tmp_path / "x.ckpt").exists()
