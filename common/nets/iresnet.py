"""IResNet (insightface arcface_torch layout): LResNet-E-IR backbones for 3x112x112 faces.

Stem conv3x3(3->64, s1)+BN+PReLU; four stages of ``IBasicBlock`` at 64/128/256/512 channels,
each stage starting with stride 2 (112 -> 7); BN2d -> flatten (512*7*7) -> Dropout -> Dense ->
BatchNorm1d whose gamma is fixed at 1 and frozen (as insightface). Conv weights He-normal,
BN eps 1e-5 and momentum 0.9 (PyTorch's 0.1).
"""
from mindspore import nn, ops
from mindspore.common.initializer import HeNormal

from common.nets import BACKBONES
from common.nets.prelu import PReLU

STAGES = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 14, 3), 100: (3, 13, 30, 3)}
WIDTHS = (64, 128, 256, 512)
EPS = 1e-5


def _conv(cin, cout, k, stride=1):
    return nn.Conv2d(cin, cout, k, stride=stride, pad_mode="pad", padding=k // 2,
                     has_bias=False, weight_init=HeNormal())


class IBasicBlock(nn.Cell):
    """BN -> conv3x3 -> BN -> PReLU -> conv3x3(stride) -> BN, plus identity or conv1x1(stride)+BN."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.SequentialCell([
            nn.BatchNorm2d(cin, eps=EPS), _conv(cin, cout, 3), nn.BatchNorm2d(cout, eps=EPS),
            PReLU(cout), _conv(cout, cout, 3, stride), nn.BatchNorm2d(cout, eps=EPS)])
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.SequentialCell([_conv(cin, cout, 1, stride), nn.BatchNorm2d(cout, eps=EPS)])

    def construct(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.body(x) + shortcut


class IResNet(nn.Cell):
    """IResNet with ``layers`` blocks per stage; embedding ``embedding_size`` (default 512).

    ``widths`` (default 64/128/256/512) narrows the stages, e.g. a tiny net for demos and tests."""

    def __init__(self, layers, embedding_size=512, dropout=0.0, widths=WIDTHS, input_size=(3, 112, 112)):
        super().__init__()
        from common.nets.mobilefacenet import gdc_kernel

        self.embedding_size = int(embedding_size)
        self.input_size = tuple(int(v) for v in input_size)
        fh, fw = gdc_kernel(self.input_size, net="IResNet")  # the map the fc flattens: 7x7 at 112x112
        widths = tuple(int(w) for w in widths)
        self.stem = nn.SequentialCell([_conv(3, widths[0], 3), nn.BatchNorm2d(widths[0], eps=EPS),
                                       PReLU(widths[0])])
        blocks, cin = [], widths[0]
        for n, cout in zip(layers, widths):
            for i in range(n):
                blocks.append(IBasicBlock(cin, cout, 2 if i == 0 else 1))
                cin = cout
        self.stages = nn.SequentialCell(blocks)
        self.bn2 = nn.BatchNorm2d(widths[-1], eps=EPS)
        self.dropout = nn.Dropout(p=dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Dense(widths[-1] * fh * fw, self.embedding_size)
        self.features = nn.BatchNorm1d(self.embedding_size, eps=EPS)
        self.features.gamma.requires_grad = False

    def construct(self, x):
        x = self.bn2(self.stages(self.stem(x)))
        x = self.dropout(ops.flatten(x))
        return self.features(self.fc(x))


def _make(depth):
    def build(embedding_size=512, dropout=0.0, widths=WIDTHS, input_size=(3, 112, 112)):
        return IResNet(STAGES[depth], embedding_size, dropout, widths, input_size)
    build.__name__ = f"iresnet{depth}"
    build.__doc__ = f"IResNet-{depth}: stages {STAGES[depth]}, input 3x112x112."
    return BACKBONES.register(build.__name__, input_size=(3, 112, 112), any_size=True)(build)


iresnet18, iresnet34, iresnet50, iresnet100 = (_make(d) for d in (18, 34, 50, 100))
