"""Independent PyTorch InceptionResnetV1 (facenet-pytorch key layout) used as the converter's reference.

Written from the published layer table; only imported by tests when torch is installed.
"""
import torch
from torch import nn


class Conv(nn.Module):
    """conv (no bias) + BN(eps 1e-3) + ReLU, keys ``conv.*`` / ``bn.*``."""

    def __init__(self, cin, cout, k, s=1, p=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, s, p, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001, momentum=0.1)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


def chain(*specs):
    return nn.Sequential(*[Conv(*s) for s in specs])


class Residual(nn.Module):
    """Branches (a ``Conv`` for ``branch0`` then Sequentials) -> cat -> 1x1 conv with bias -> x + scale*out."""

    def __init__(self, channels, branches, scale, relu=True):
        super().__init__()
        self.branch0 = Conv(*branches[0][0])
        for i, specs in enumerate(branches[1:], start=1):
            setattr(self, f"branch{i}", chain(*specs))
        self.n = len(branches)
        width = sum(specs[-1][1] for specs in branches)
        self.conv2d = nn.Conv2d(width, channels, 1)
        self.scale, self.relu = scale, relu

    def forward(self, x):
        out = torch.cat([getattr(self, f"branch{i}")(x) for i in range(self.n)], 1)
        out = x + self.scale * self.conv2d(out)
        return torch.relu(out) if self.relu else out


def block35():
    return Residual(256, [[(256, 32, 1)], [(256, 32, 1), (32, 32, 3, 1, 1)],
                          [(256, 32, 1), (32, 32, 3, 1, 1), (32, 32, 3, 1, 1)]], 0.17)


def block17():
    return Residual(896, [[(896, 128, 1)], [(896, 128, 1), (128, 128, (1, 7), 1, (0, 3)),
                                           (128, 128, (7, 1), 1, (3, 0))]], 0.10)


def block8(scale=0.20, relu=True):
    return Residual(1792, [[(1792, 192, 1)], [(1792, 192, 1), (192, 192, (1, 3), 1, (0, 1)),
                                             (192, 192, (3, 1), 1, (1, 0))]], scale, relu)


class Reduction(nn.Module):
    """Conv branches plus a final 3x3/2 max-pool branch, concatenated."""

    def __init__(self, branches, single_first):
        super().__init__()
        for i, specs in enumerate(branches):
            setattr(self, f"branch{i}", Conv(*specs[0]) if single_first and i == 0 else chain(*specs))
        self.n = len(branches)
        setattr(self, f"branch{self.n}", nn.MaxPool2d(3, 2))

    def forward(self, x):
        return torch.cat([getattr(self, f"branch{i}")(x) for i in range(self.n + 1)], 1)


class TorchInceptionResnetV1(nn.Module):
    """(N, 3, 160, 160) -> (N, 512) un-normalised embedding (after last_bn)."""

    def __init__(self):
        super().__init__()
        self.conv2d_1a = Conv(3, 32, 3, 2)
        self.conv2d_2a = Conv(32, 32, 3)
        self.conv2d_2b = Conv(32, 64, 3, 1, 1)
        self.conv2d_3b = Conv(64, 80, 1)
        self.conv2d_4a = Conv(80, 192, 3)
        self.conv2d_4b = Conv(192, 256, 3, 2)
        self.repeat_1 = nn.Sequential(*[block35() for _ in range(5)])
        self.mixed_6a = Reduction([[(256, 384, 3, 2)], [(256, 192, 1), (192, 192, 3, 1, 1), (192, 256, 3, 2)]], True)
        self.repeat_2 = nn.Sequential(*[block17() for _ in range(10)])
        self.mixed_7a = Reduction([[(896, 256, 1), (256, 384, 3, 2)], [(896, 256, 1), (256, 256, 3, 2)],
                                   [(896, 256, 1), (256, 256, 3, 1, 1), (256, 256, 3, 2)]], False)
        self.repeat_3 = nn.Sequential(*[block8() for _ in range(5)])
        self.block8 = block8(1.0, relu=False)
        self.last_linear = nn.Linear(1792, 512, bias=False)
        self.last_bn = nn.BatchNorm1d(512, eps=0.001, momentum=0.1)
        self.logits = nn.Linear(512, 10)

    def forward(self, x):
        x = self.conv2d_2b(self.conv2d_2a(self.conv2d_1a(x)))
        x = self.conv2d_4b(self.conv2d_4a(self.conv2d_3b(nn.functional.max_pool2d(x, 3, 2))))
        x = self.block8(self.repeat_3(self.mixed_7a(self.repeat_2(self.mixed_6a(self.repeat_1(x))))))
        return self.last_bn(self.last_linear(x.mean(dim=(2, 3))))
