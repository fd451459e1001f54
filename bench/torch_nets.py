"""The zoo's backbones written again in PyTorch, for speed comparison only (bench/run_all.py).

Same layers, shapes and operation counts as the MindSpore definitions (common/nets, lightcnn/src,
facenet/src), written from the layer tables in their docstrings; weights are random (speed does not
depend on them). PyTorch is never a runtime dependency of the zoo: only bench/ and tests/ import this.

    net, input_size, embedding = build("iresnet50")
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


# ---------------------------------------------------------------- LightCNN (1x128x128 -> 256)
class MFM(nn.Module):
    def __init__(self, cin, cout, k=3, s=1, p=1, dense=False):
        super().__init__()
        self.c = cout
        self.f = nn.Linear(cin, 2 * cout) if dense else nn.Conv2d(cin, 2 * cout, k, s, p)

    def forward(self, x):
        a, b = torch.split(self.f(x), self.c, 1)
        return torch.maximum(a, b)


class LightCNN(nn.Module):
    def __init__(self, blocks=None, v2=False, hw=(128, 128)):
        super().__init__()

        def pool():
            return _MaxAvg() if v2 else nn.MaxPool2d(2, 2)

        layers = [MFM(1, 48, 5, 1, 2), pool()]
        for i, (cin, cout, after) in enumerate([(48, 96, True), (96, 192, True), (192, 128, False),
                                                (128, 128, True)]):
            for _ in range(blocks[i] if blocks else 0):
                layers.append(_Res(cin))
            layers += [MFM(cin, cin, 1, 1, 0), MFM(cin, cout)]
            if after:
                layers.append(pool())
        self.features = nn.Sequential(*layers)
        flat = 128 * (hw[0] // 16) * (hw[1] // 16)
        self.fc = nn.Linear(flat, 256) if v2 else MFM(flat, 256, dense=True)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


class _MaxAvg(nn.Module):
    def forward(self, x):
        return F.max_pool2d(x, 2, 2) + F.avg_pool2d(x, 2, 2)


class _Res(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a, self.b = MFM(c, c), MFM(c, c)

    def forward(self, x):
        return self.b(self.a(x)) + x


# ---------------------------------------------------------------- MobileFaceNet (3x112x112 -> 128)
def conv_bn(cin, cout, k, s=1, dw=False, linear=False):
    layers = [nn.Conv2d(cin, cout, k, s, k // 2 if k == 3 else 0, groups=cin if dw else 1, bias=False),
              nn.BatchNorm2d(cout)]
    if not linear:
        layers.append(nn.PReLU(cout))
    return nn.Sequential(*layers)


class _Bottleneck(nn.Module):
    def __init__(self, cin, cout, s, t):
        super().__init__()
        mid = cin * t
        self.res = s == 1 and cin == cout
        self.body = nn.Sequential(conv_bn(cin, mid, 1), conv_bn(mid, mid, 3, s, dw=True),
                                  conv_bn(mid, cout, 1, linear=True))

    def forward(self, x):
        return x + self.body(x) if self.res else self.body(x)


class MobileFaceNet(nn.Module):
    def __init__(self, emb=128):
        super().__init__()
        layers, cin = [conv_bn(3, 64, 3, 2), conv_bn(64, 64, 3, dw=True)], 64
        for t, c, n, s in ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1)):
            for i in range(n):
                layers.append(_Bottleneck(cin, c, s if i == 0 else 1, t))
                cin = c
        layers += [conv_bn(cin, 512, 1), conv_bn(512, 512, 7, dw=True, linear=True),
                   conv_bn(512, emb, 1, linear=True)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return torch.flatten(self.body(x), 1)


# ---------------------------------------------------------------- SphereNet (3x112x96 -> 512), TF "SAME" pads
class _SameConv(nn.Conv2d):
    """3x3 conv with TensorFlow SAME padding (the extra pixel, if any, at the bottom/right)."""

    def forward(self, x):
        s = self.stride[0]
        pads = []
        for size in (x.shape[3], x.shape[2]):
            total = max((math.ceil(size / s) - 1) * s + 3 - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride)


class _Unit(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(_SameConv(c, c, 3, bias=False), nn.PReLU(c, 0.0),
                                  _SameConv(c, c, 3, bias=False), nn.PReLU(c, 0.0))

    def forward(self, x):
        return x + self.body(x)


class SphereNet(nn.Module):
    def __init__(self, layers, widths=(64, 128, 256, 512), emb=512):
        super().__init__()
        cells, cin = [], 3
        for n, cout in zip(layers, widths):
            cells += [_SameConv(cin, cout, 3, stride=2), nn.PReLU(cout, 0.0)] + [_Unit(cout) for _ in range(n)]
            cin = cout
        self.trunk = nn.Sequential(*cells)
        self.fc = nn.Linear(widths[-1] * 7 * 6, emb, bias=False)
        self.bn = nn.BatchNorm1d(emb, eps=1e-3)

    def forward(self, x):
        return self.bn(self.fc(torch.flatten(self.trunk(x), 1)))


# ---------------------------------------------------------------- IResNet (3x112x112 -> 512)
class _IBlock(nn.Module):
    def __init__(self, cin, cout, s):
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(cout), nn.PReLU(cout), nn.Conv2d(cout, cout, 3, s, 1, bias=False),
                                  nn.BatchNorm2d(cout))
        self.down = None
        if s != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, s, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return self.body(x) + (x if self.down is None else self.down(x))


class IResNet(nn.Module):
    def __init__(self, layers, emb=512, widths=(64, 128, 256, 512)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.PReLU(widths[0]))
        blocks, cin = [], widths[0]
        for n, c in zip(layers, widths):
            for i in range(n):
                blocks.append(_IBlock(cin, c, 2 if i == 0 else 1))
                cin = c
        self.stages = nn.Sequential(*blocks)
        self.bn2 = nn.BatchNorm2d(cin)
        self.fc = nn.Linear(cin * 7 * 7, emb)
        self.features = nn.BatchNorm1d(emb)

    def forward(self, x):
        return self.features(self.fc(torch.flatten(self.bn2(self.stages(self.stem(x))), 1)))


# ---------------------------------------------------------------- Inception-ResNet-v1 (3x160x160 -> 512)
def basic(cin, cout, k, s=1, p=0):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, p, bias=False), nn.BatchNorm2d(cout, eps=1e-3),
                         nn.ReLU(inplace=True))


class _Block(nn.Module):
    def __init__(self, branches, width, channels, scale, relu=True):
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.up = nn.Conv2d(width, channels, 1)
        self.scale, self.relu = scale, relu

    def forward(self, x):
        out = self.up(torch.cat([b(x) for b in self.branches], 1)) * self.scale + x
        return F.relu(out) if self.relu else out


def block35(scale=0.17):
    return _Block([basic(256, 32, 1), nn.Sequential(basic(256, 32, 1), basic(32, 32, 3, p=1)),
                   nn.Sequential(basic(256, 32, 1), basic(32, 32, 3, p=1), basic(32, 32, 3, p=1))],
                  96, 256, scale)


def block17(scale=0.10):
    return _Block([basic(896, 128, 1), nn.Sequential(basic(896, 128, 1), basic(128, 128, (1, 7), p=(0, 3)),
                                                     basic(128, 128, (7, 1), p=(3, 0)))], 256, 896, scale)


def block8(scale=0.20, relu=True):
    return _Block([basic(1792, 192, 1), nn.Sequential(basic(1792, 192, 1), basic(192, 192, (1, 3), p=(0, 1)),
                                                      basic(192, 192, (3, 1), p=(1, 0)))], 384, 1792, scale, relu)


class _Concat(nn.Module):
    def __init__(self, *branches):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], 1)


class InceptionResnetV1(nn.Module):
    def __init__(self, emb=512):
        super().__init__()
        self.stem = nn.Sequential(basic(3, 32, 3, 2), basic(32, 32, 3), basic(32, 64, 3, p=1), nn.MaxPool2d(3, 2),
                                  basic(64, 80, 1), basic(80, 192, 3), basic(192, 256, 3, 2))
        mixed6a = _Concat(basic(256, 384, 3, 2),
                          nn.Sequential(basic(256, 192, 1), basic(192, 192, 3, p=1), basic(192, 256, 3, 2)),
                          nn.MaxPool2d(3, 2))
        mixed7a = _Concat(nn.Sequential(basic(896, 256, 1), basic(256, 384, 3, 2)),
                          nn.Sequential(basic(896, 256, 1), basic(256, 256, 3, 2)),
                          nn.Sequential(basic(896, 256, 1), basic(256, 256, 3, p=1), basic(256, 256, 3, 2)),
                          nn.MaxPool2d(3, 2))
        self.body = nn.Sequential(*[block35() for _ in range(5)], mixed6a, *[block17() for _ in range(10)],
                                  mixed7a, *[block8() for _ in range(5)], block8(1.0, relu=False))
        self.last_linear = nn.Linear(1792, emb, bias=False)
        self.last_bn = nn.BatchNorm1d(emb, eps=1e-3)

    def forward(self, x):
        x = self.body(self.stem(x)).mean(dim=(2, 3))
        return self.last_bn(self.last_linear(x))


NETS = {
    "lightcnn9": (lambda hw: LightCNN(hw=hw), "gray"),
    "lightcnn29v2": (lambda hw: LightCNN(blocks=(1, 2, 3, 4), v2=True, hw=hw), "gray"),
    "mobilefacenet": (lambda hw: MobileFaceNet(), "rgb"),
    "spherenet20": (lambda hw: SphereNet((1, 2, 4, 1)), "rgb"),
    "spherenet64": (lambda hw: SphereNet((3, 8, 16, 3)), "rgb"),
    "iresnet50": (lambda hw: IResNet((3, 4, 14, 3)), "rgb"),
    "iresnet100": (lambda hw: IResNet((3, 13, 30, 3)), "rgb"),
    "inception_resnet_v1": (lambda hw: InceptionResnetV1(), "rgb"),
}


def build(name, input_size):
    """PyTorch twin of backbone ``name`` for input (C, H, W) -> module (eval mode)."""
    make, _ = NETS[name]
    return make(tuple(input_size[1:])).eval()


class MarginHead(nn.Module):
    """CosFace-style head as common/heads/margin.py: s * (cos(theta) - m on the target) over normalised weights."""

    def __init__(self, emb, classes, s=64.0, m=0.35):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(classes, emb) * 0.01)
        self.s, self.m = s, m

    def forward(self, e, label):
        cos = F.linear(F.normalize(e), F.normalize(self.weight)).clamp(-1 + 1e-6, 1 - 1e-6)
        return self.s * (cos - self.m * F.one_hot(label, cos.shape[1]).to(cos.dtype))
