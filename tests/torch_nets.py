"""Independent PyTorch networks in the public layouts (written for the import tests from the published layer
tables: insightface arcface_torch IResNet and MobileFaceNet "mbf", LightCNN 9/29/29v2, sphereface sphere20a),
facenet-pytorch's InceptionResnetV1 (the FaceNet converter's reference), plus randomisation of every weight and
BatchNorm statistic; and the benchmarks' PyTorch twins of the zoo nets (``build(name, input_size)``, ``MarginHead``:
bench/run_all.py, bench/bench_device.py), built from the same classes where a published layout is the zoo's
architecture (IResNet, LightCNN 9 / 29v2, InceptionResnetV1: the published classifier left out, so the parameter
counts equal the MindSpore nets'). The one module of PyTorch reference networks; imported only by tests and
benchmarks that have torch."""
import torch
from torch import nn
from torch.nn import functional as F


def randomize(net, seed=0):
    """Random weights (He-scaled), BN affine and running statistics, PReLU slopes; returns net in eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (1.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                c = m.num_features
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            elif isinstance(m, nn.PReLU):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.4)
            elif hasattr(m, "weight") and isinstance(getattr(m, "weight"), nn.Parameter) and m.weight.dim() == 2:
                m.weight.copy_(torch.randn(m.weight.shape, generator=g))
    return net.eval()


def bn2(c):
    return nn.BatchNorm2d(c, eps=1e-5)


# ---------------- insightface arcface_torch IResNet ----------------
class IBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1, self.conv1 = bn2(cin), nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bn2, self.prelu = bn2(cout), nn.PReLU(cout)
        self.conv2, self.bn3 = nn.Conv2d(cout, cout, 3, stride, 1, bias=False), bn2(cout)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), bn2(cout))
                           if stride != 1 or cin != cout else None)

    def forward(self, x):
        y = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return y + (x if self.downsample is None else self.downsample(x))


class IResNet(nn.Module):
    def __init__(self, layers, widths=(64, 128, 256, 512), emb=512):
        super().__init__()
        self.conv1, self.bn1, self.prelu = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), bn2(widths[0]), \
            nn.PReLU(widths[0])
        cin = widths[0]
        for i, (n, w) in enumerate(zip(layers, widths)):
            blocks = []
            for j in range(n):
                blocks.append(IBlock(cin, w, 2 if j == 0 else 1))
                cin = w
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.bn2, self.dropout = bn2(cin), nn.Dropout(0.0)
        self.fc, self.features = nn.Linear(cin * 49, emb), nn.BatchNorm1d(emb, eps=1e-5)

    def forward(self, x):
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.features(self.fc(self.dropout(torch.flatten(self.bn2(x), 1))))


# ---------------- insightface arcface_torch MobileFaceNet ("mbf") ----------------
class ConvBlock(nn.Module):
    def __init__(self, cin, cout, k=1, s=1, p=0, groups=1, act=True):
        super().__init__()
        mods = [nn.Conv2d(cin, cout, k, s, p, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        self.layers = nn.Sequential(*(mods + ([nn.PReLU(cout)] if act else [])))

    def forward(self, x):
        return self.layers(x)


class DepthWise(nn.Module):
    def __init__(self, cin, cout, residual, stride, groups):
        super().__init__()
        self.residual = residual
        self.layers = nn.Sequential(ConvBlock(cin, groups), ConvBlock(groups, groups, 3, stride, 1, groups),
                                    ConvBlock(groups, cout, act=False))

    def forward(self, x):
        return x + self.layers(x) if self.residual else self.layers(x)


class Residual(nn.Module):
    def __init__(self, c, n, groups):
        super().__init__()
        self.layers = nn.Sequential(*[DepthWise(c, c, True, 1, groups) for _ in range(n)])

    def forward(self, x):
        return self.layers(x)


class GDC(nn.Module):
    def __init__(self, emb):
        super().__init__()
        self.layers = nn.Sequential(ConvBlock(512, 512, 7, 1, 0, 512, act=False), nn.Flatten(),
                                    nn.Linear(512, emb, bias=False), nn.BatchNorm1d(emb))

    def forward(self, x):
        return self.layers(x)


class MBF(nn.Module):
    def __init__(self, emb=512, blocks=(1, 4, 6, 2), scale=2):
        super().__init__()
        c1, c2 = 64 * scale, 128 * scale
        self.layers = nn.ModuleList([ConvBlock(3, c1, 3, 2, 1), ConvBlock(c1, c1, 3, 1, 1, 64),
                                     DepthWise(c1, c1, False, 2, 128), Residual(c1, blocks[1], 128),
                                     DepthWise(c1, c2, False, 2, 256), Residual(c2, blocks[2], 256),
                                     DepthWise(c2, c2, False, 2, 512), Residual(c2, blocks[3], 256)])
        self.conv_sep = ConvBlock(c2, 512)
        self.features = GDC(emb)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.features(self.conv_sep(x))


# ---------------- LightCNN (AlfredXiangWu/LightCNN) ----------------
class MFM(nn.Module):
    def __init__(self, cin, cout, k=3, s=1, p=1, dense=False):
        super().__init__()
        self.out = cout
        self.filter = nn.Linear(cin, 2 * cout) if dense else nn.Conv2d(cin, 2 * cout, k, s, p)

    def forward(self, x):
        a, b = torch.split(self.filter(x), self.out, 1)
        return torch.max(a, b)


class Group(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv_a, self.conv = MFM(cin, cin, 1, 1, 0), MFM(cin, cout, 3, 1, 1)

    def forward(self, x):
        return self.conv(self.conv_a(x))


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.conv2 = MFM(c, c), MFM(c, c)

    def forward(self, x):
        return self.conv2(self.conv1(x)) + x


class LightCNN9(nn.Module):
    def __init__(self, num_classes=100, hw=(128, 128)):
        super().__init__()
        pool = lambda: nn.MaxPool2d(2, 2, ceil_mode=True)  # noqa: E731
        self.features = nn.Sequential(MFM(1, 48, 5, 1, 2), pool(), Group(48, 96), pool(), Group(96, 192), pool(),
                                      Group(192, 128), Group(128, 128), pool())
        flat = 128 * -(-hw[0] // 16) * -(-hw[1] // 16)  # four ceil-mode 2x2 pools
        self.fc1, self.fc2 = MFM(flat, 256, dense=True), nn.Linear(256, num_classes)

    def forward(self, x):
        return self.fc1(torch.flatten(self.features(x), 1))


class LightCNN29(nn.Module):
    def __init__(self, num_classes=100, v2=False, hw=(128, 128)):
        super().__init__()
        self.v2 = v2
        flat = 128 * (hw[0] // 16) * (hw[1] // 16)
        self.conv1 = MFM(1, 48, 5, 1, 2)
        for i, (n, cin, cout) in enumerate(zip((1, 2, 3, 4), (48, 96, 192, 128), (96, 192, 128, 128)), start=1):
            setattr(self, f"block{i}", nn.Sequential(*[ResBlock(cin) for _ in range(n)]))
            setattr(self, f"group{i}", Group(cin, cout))
        self.fc = nn.Linear(flat, 256) if v2 else MFM(flat, 256, dense=True)
        self.fc2 = nn.Linear(256, num_classes, bias=not v2)

    def pool(self, x):
        return F.max_pool2d(x, 2) + F.avg_pool2d(x, 2) if self.v2 else F.max_pool2d(x, 2, 2, ceil_mode=True)

    def forward(self, x):
        x = self.pool(self.conv1(x))
        x = self.pool(self.group1(self.block1(x)))
        x = self.pool(self.group2(self.block2(x)))
        x = self.group4(self.block4(self.group3(self.block3(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


# ---------------- sphereface sphere20a (clcarwin/sphereface_pytorch) ----------------
class Sphere20a(nn.Module):
    def __init__(self, widths=(64, 128, 256, 512), emb=512, num_classes=100):
        super().__init__()
        self.units = (1, 2, 4, 1)
        cin = 3
        for m, (w, n) in enumerate(zip(widths, self.units), start=1):
            for j in range(1, 2 + 2 * n):
                setattr(self, f"conv{m}_{j}", nn.Conv2d(cin if j == 1 else w, w, 3, 2 if j == 1 else 1, 1))
                setattr(self, f"relu{m}_{j}", nn.PReLU(w))
            cin = w
        self.fc5 = nn.Linear(cin * 7 * 6, emb)
        self.fc6 = nn.Module()
        self.fc6.weight = nn.Parameter(torch.randn(emb, num_classes))  # AngleLinear (in, classes)

    def forward(self, x):
        for m, n in enumerate(self.units, start=1):
            c = lambda j, t: getattr(self, f"relu{m}_{j}")(getattr(self, f"conv{m}_{j}")(t))  # noqa: E731
            x = c(1, x)
            for u in range(n):
                x = x + c(3 + 2 * u, c(2 + 2 * u, x))
        return self.fc5(torch.flatten(x, 1))


# --- facenet-pytorch InceptionResnetV1 (key layout conv.* / bn.*, BN eps 1e-3) ---


class IncConv(nn.Module):
    """conv (no bias) + BN(eps 1e-3) + ReLU, keys ``conv.*`` / ``bn.*``."""

    def __init__(self, cin, cout, k, s=1, p=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, s, p, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001, momentum=0.1)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


def inc_chain(*specs):
    return nn.Sequential(*[IncConv(*s) for s in specs])


class IncResidual(nn.Module):
    """Branches (a ``IncConv`` for ``branch0`` then Sequentials) -> cat -> 1x1 conv with bias -> x + scale*out."""

    def __init__(self, channels, branches, scale, relu=True):
        super().__init__()
        self.branch0 = IncConv(*branches[0][0])
        for i, specs in enumerate(branches[1:], start=1):
            setattr(self, f"branch{i}", inc_chain(*specs))
        self.n = len(branches)
        width = sum(specs[-1][1] for specs in branches)
        self.conv2d = nn.Conv2d(width, channels, 1)
        self.scale, self.relu = scale, relu

    def forward(self, x):
        out = torch.cat([getattr(self, f"branch{i}")(x) for i in range(self.n)], 1)
        out = x + self.scale * self.conv2d(out)
        return torch.relu(out) if self.relu else out


def inc_block35():
    return IncResidual(256, [[(256, 32, 1)], [(256, 32, 1), (32, 32, 3, 1, 1)],
                          [(256, 32, 1), (32, 32, 3, 1, 1), (32, 32, 3, 1, 1)]], 0.17)


def inc_block17():
    return IncResidual(896, [[(896, 128, 1)], [(896, 128, 1), (128, 128, (1, 7), 1, (0, 3)),
                                           (128, 128, (7, 1), 1, (3, 0))]], 0.10)


def inc_block8(scale=0.20, relu=True):
    return IncResidual(1792, [[(1792, 192, 1)], [(1792, 192, 1), (192, 192, (1, 3), 1, (0, 1)),
                                             (192, 192, (3, 1), 1, (1, 0))]], scale, relu)


class IncReduction(nn.Module):
    """IncConv branches plus a final 3x3/2 max-pool branch, concatenated."""

    def __init__(self, branches, single_first):
        super().__init__()
        for i, specs in enumerate(branches):
            setattr(self, f"branch{i}", IncConv(*specs[0]) if single_first and i == 0 else inc_chain(*specs))
        self.n = len(branches)
        setattr(self, f"branch{self.n}", nn.MaxPool2d(3, 2))

    def forward(self, x):
        return torch.cat([getattr(self, f"branch{i}")(x) for i in range(self.n + 1)], 1)


class TorchInceptionResnetV1(nn.Module):
    """(N, 3, 160, 160) -> (N, 512) un-normalised embedding (after last_bn)."""

    def __init__(self):
        super().__init__()
        self.conv2d_1a = IncConv(3, 32, 3, 2)
        self.conv2d_2a = IncConv(32, 32, 3)
        self.conv2d_2b = IncConv(32, 64, 3, 1, 1)
        self.conv2d_3b = IncConv(64, 80, 1)
        self.conv2d_4a = IncConv(80, 192, 3)
        self.conv2d_4b = IncConv(192, 256, 3, 2)
        self.repeat_1 = nn.Sequential(*[inc_block35() for _ in range(5)])
        self.mixed_6a = IncReduction([[(256, 384, 3, 2)], [(256, 192, 1), (192, 192, 3, 1, 1), (192, 256, 3, 2)]], True)
        self.repeat_2 = nn.Sequential(*[inc_block17() for _ in range(10)])
        self.mixed_7a = IncReduction([[(896, 256, 1), (256, 384, 3, 2)], [(896, 256, 1), (256, 256, 3, 2)],
                                   [(896, 256, 1), (256, 256, 3, 1, 1), (256, 256, 3, 2)]], False)
        self.repeat_3 = nn.Sequential(*[inc_block8() for _ in range(5)])
        self.block8 = inc_block8(1.0, relu=False)
        self.last_linear = nn.Linear(1792, 512, bias=False)
        self.last_bn = nn.BatchNorm1d(512, eps=0.001, momentum=0.1)
        self.logits = nn.Linear(512, 10)

    def forward(self, x):
        x = self.conv2d_2b(self.conv2d_2a(self.conv2d_1a(x)))
        x = self.conv2d_4b(self.conv2d_4a(self.conv2d_3b(nn.functional.max_pool2d(x, 3, 2))))
        x = self.block8(self.repeat_3(self.mixed_7a(self.repeat_2(self.mixed_6a(self.repeat_1(x))))))
        return self.last_bn(self.last_linear(x.mean(dim=(2, 3))))


class FoamliuLikeMBF(nn.Module):
    """A small network in the layout of foamliu/MobileFaceNet, which no zoo net has (the ONNX-route tests): ReLU6
    everywhere, a depthwise 3x3 + pointwise 1x1 conv 64->64 in the stem, inverted residuals with linear
    bottlenecks, a 1x1 conv to ``last``, a global depthwise conv, then a BIASED 1x1 conv before the last BN.
    112x112 input; fewer blocks and channels than the published net."""

    def __init__(self, embedding_size=32, last=128):
        super().__init__()

        def cbr(i, o, k=3, s=1, g=1):
            return [nn.Conv2d(i, o, k, s, k // 2, groups=g, bias=False), nn.BatchNorm2d(o), nn.ReLU6(inplace=True)]

        self.conv1 = nn.Sequential(*cbr(3, 64, 3, 2))
        self.dw_conv = nn.Sequential(*cbr(64, 64, 3, 1, 64), *cbr(64, 64, 1))     # the stem's 1x1 conv 64->64
        self.blocks = nn.ModuleList([self._inverted(64, 64, 2, 2), self._inverted(64, 64, 1, 2),
                                     self._inverted(64, 96, 2, 4), self._inverted(96, 96, 2, 2)])
        self.res = [False, True, False, False]
        self.conv2 = nn.Sequential(*cbr(96, last, 1))
        self.gdconv = nn.Sequential(nn.Conv2d(last, last, 7, 1, 0, groups=last, bias=False), nn.BatchNorm2d(last))
        self.conv3 = nn.Conv2d(last, embedding_size, 1)                            # biased 1x1 conv
        self.bn = nn.BatchNorm2d(embedding_size)

    @staticmethod
    def _inverted(i, o, s, t):
        h = i * t
        return nn.Sequential(nn.Conv2d(i, h, 1, bias=False), nn.BatchNorm2d(h), nn.ReLU6(inplace=True),
                             nn.Conv2d(h, h, 3, s, 1, groups=h, bias=False), nn.BatchNorm2d(h), nn.ReLU6(inplace=True),
                             nn.Conv2d(h, o, 1, bias=False), nn.BatchNorm2d(o))

    def forward(self, x):
        x = self.dw_conv(self.conv1(x))
        for block, res in zip(self.blocks, self.res):
            x = x + block(x) if res else block(x)
        x = self.bn(self.conv3(self.gdconv(self.conv2(x))))
        return x.flatten(1)


# ---------------- Xiaoccer/MobileFaceNet_Pytorch MobileFaceNet (PReLU bottlenecks, 112x96 input, GDC 7x6) -----
# Written from the published layer table (MobileFaceNets, Chen et al. 2018, Table 1, as that repository trains
# it): conv3x3/2 64, depthwise 3x3 64, bottlenecks (t, c, n, s) = (2, 64, 5, 2), (4, 128, 1, 2),
# (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1), conv1x1 512, linear global depthwise conv (the whole 7x6 map),
# linear conv1x1 128; every conv bias-free + BN, PReLU after all but the linear ones. Module names are this
# file's own; the import matches by order and shape.
class XUnit(nn.Module):
    def __init__(self, cin, cout, k, stride=1, groups=1, act=True):
        super().__init__()
        pad = 1 if k == 3 else 0
        self.c = nn.Conv2d(cin, cout, k, stride, pad, groups=groups, bias=False)
        self.n = nn.BatchNorm2d(cout)
        self.a = nn.PReLU(cout) if act else None

    def forward(self, x):
        x = self.n(self.c(x))
        return self.a(x) if self.a is not None else x


class XBottleneck(nn.Module):
    def __init__(self, cin, cout, stride, t):
        super().__init__()
        hid = cin * t
        self.expand = XUnit(cin, hid, 1)
        self.depth = XUnit(hid, hid, 3, stride, groups=hid)
        self.project = XUnit(hid, cout, 1, act=False)
        self.skip = stride == 1 and cin == cout

    def forward(self, x):
        y = self.project(self.depth(self.expand(x)))
        return x + y if self.skip else y


class XiaoccerMobileFaceNet(nn.Module):
    TABLE = ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))

    def __init__(self, embedding_size=128, input_hw=(112, 96)):
        super().__init__()
        h, w = input_hw
        for _ in range(4):  # four stride-2 3x3 convs (padding 1)
            h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1
        self.stem = XUnit(3, 64, 3, 2)
        self.stem_dw = XUnit(64, 64, 3, 1, groups=64)
        units, cin = [], 64
        for t, c, n, s in self.TABLE:
            for i in range(n):
                units.append(XBottleneck(cin, c, s if i == 0 else 1, t))
                cin = c
        self.stages = nn.Sequential(*units)
        self.widen = XUnit(cin, 512, 1)
        self.gdc = XUnit(512, 512, (h, w), groups=512, act=False)
        self.embed = XUnit(512, embedding_size, 1, act=False)

    def forward(self, x):
        x = self.widen(self.stages(self.stem_dw(self.stem(x))))
        return self.embed(self.gdc(x)).flatten(1)


# ================= the benchmarks' PyTorch twins of the zoo nets (speed comparison only; random weights) =========
# Same layers, shapes and operation counts as the MindSpore definitions (common/nets, lightcnn/src, facenet/src).
# The zoo's MobileFaceNet (112x112 -> 128) and SphereNet (TensorFlow SAME pads, 112x96) have no published twin above
# (MBF, XiaoccerMobileFaceNet and Sphere20a are other layouts on purpose), so they are written here once.
import math  # noqa: E402


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


def _no_classifier(net, attr):
    """The embedding network only: the published classifier layer is not part of the zoo's backbone."""
    setattr(net, attr, nn.Identity())
    return net


NETS = {
    "lightcnn9": (lambda hw: _no_classifier(LightCNN9(hw=hw), "fc2"), "gray"),
    "lightcnn29v2": (lambda hw: _no_classifier(LightCNN29(v2=True, hw=hw), "fc2"), "gray"),
    "mobilefacenet": (lambda hw: MobileFaceNet(), "rgb"),
    "spherenet20": (lambda hw: SphereNet((1, 2, 4, 1)), "rgb"),
    "spherenet64": (lambda hw: SphereNet((3, 8, 16, 3)), "rgb"),
    "iresnet50": (lambda hw: IResNet((3, 4, 14, 3)), "rgb"),
    "iresnet100": (lambda hw: IResNet((3, 13, 30, 3)), "rgb"),
    "inception_resnet_v1": (lambda hw: _no_classifier(TorchInceptionResnetV1(), "logits"), "rgb"),
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
