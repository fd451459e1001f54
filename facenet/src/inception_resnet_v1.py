"""Inception-ResNet-v1 (Szegedy et al. 2016) as used by FaceNet trained on VGGFace2, for MindSpore.

Layer table and parameter names follow the public facenet-pytorch layout (``conv2d_1a.conv.weight``,
``repeat_1.0.branch0.bn.gamma``, ``last_linear.weight``, ``last_bn.moving_mean``), so a PyTorch
state_dict converts by renaming the BatchNorm fields only (see ``facenet/convert_torch.py``).
Input: 3x160x160 RGB already standardised as (x - 127.5) / 128 by the preprocessing.
Output: the 512-d embedding after ``last_bn``; L2-normalised only when ``normalize=True``.
"""
from mindspore import nn, ops


def _pad(padding):
    """Torch-style (pad_h, pad_w) or int -> MindSpore (top, bottom, left, right)."""
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return (ph, ph, pw, pw)


class BasicConv2d(nn.Cell):
    """Conv (no bias) -> BatchNorm (eps 1e-3, torch momentum 0.1) -> ReLU."""

    def __init__(self, in_ch, out_ch, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride, pad_mode="pad", padding=_pad(padding),
                              has_bias=False)
        self.bn = nn.BatchNorm2d(out_ch, eps=0.001, momentum=0.9)
        self.relu = nn.ReLU()

    def construct(self, x):
        return self.relu(self.bn(self.conv(x)))


class _Residual(nn.Cell):
    """Shared residual tail: concat branches, 1x1 conv (with bias) back to ``channels``, scale, add, ReLU."""

    def __init__(self, branches_out, channels, scale, relu=True):
        super().__init__()
        self.scale = scale
        self.use_relu = relu
        self.conv2d = nn.Conv2d(branches_out, channels, 1, has_bias=True)
        self.relu = nn.ReLU()

    def merge(self, x, parts):
        out = self.conv2d(ops.concat(parts, 1)) * self.scale + x
        if self.use_relu:
            out = self.relu(out)
        return out


class Block35(_Residual):
    """Inception-ResNet-A on 256x35x35-type maps (17x17 at 160 input)."""

    def __init__(self, scale=0.17):
        super().__init__(96, 256, scale)
        self.branch0 = BasicConv2d(256, 32, 1)
        self.branch1 = nn.SequentialCell([BasicConv2d(256, 32, 1), BasicConv2d(32, 32, 3, padding=1)])
        self.branch2 = nn.SequentialCell([BasicConv2d(256, 32, 1), BasicConv2d(32, 32, 3, padding=1),
                                          BasicConv2d(32, 32, 3, padding=1)])

    def construct(self, x):
        return self.merge(x, (self.branch0(x), self.branch1(x), self.branch2(x)))


class Block17(_Residual):
    """Inception-ResNet-B on 896-channel maps, factorised 1x7 / 7x1."""

    def __init__(self, scale=0.10):
        super().__init__(256, 896, scale)
        self.branch0 = BasicConv2d(896, 128, 1)
        self.branch1 = nn.SequentialCell([BasicConv2d(896, 128, 1), BasicConv2d(128, 128, (1, 7), padding=(0, 3)),
                                          BasicConv2d(128, 128, (7, 1), padding=(3, 0))])

    def construct(self, x):
        return self.merge(x, (self.branch0(x), self.branch1(x)))


class Block8(_Residual):
    """Inception-ResNet-C on 1792-channel maps, factorised 1x3 / 3x1; ``relu=False`` for the final block."""

    def __init__(self, scale=0.20, relu=True):
        super().__init__(384, 1792, scale, relu)
        self.branch0 = BasicConv2d(1792, 192, 1)
        self.branch1 = nn.SequentialCell([BasicConv2d(1792, 192, 1), BasicConv2d(192, 192, (1, 3), padding=(0, 1)),
                                          BasicConv2d(192, 192, (3, 1), padding=(1, 0))])

    def construct(self, x):
        return self.merge(x, (self.branch0(x), self.branch1(x)))


class Mixed6a(nn.Cell):
    """Reduction-A: 256 -> 896 channels, stride 2."""

    def __init__(self):
        super().__init__()
        self.branch0 = BasicConv2d(256, 384, 3, stride=2)
        self.branch1 = nn.SequentialCell([BasicConv2d(256, 192, 1), BasicConv2d(192, 192, 3, padding=1),
                                          BasicConv2d(192, 256, 3, stride=2)])
        self.branch2 = nn.MaxPool2d(3, 2, pad_mode="valid")

    def construct(self, x):
        return ops.concat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)


class Mixed7a(nn.Cell):
    """Reduction-B: 896 -> 1792 channels, stride 2."""

    def __init__(self):
        super().__init__()
        self.branch0 = nn.SequentialCell([BasicConv2d(896, 256, 1), BasicConv2d(256, 384, 3, stride=2)])
        self.branch1 = nn.SequentialCell([BasicConv2d(896, 256, 1), BasicConv2d(256, 256, 3, stride=2)])
        self.branch2 = nn.SequentialCell([BasicConv2d(896, 256, 1), BasicConv2d(256, 256, 3, padding=1),
                                          BasicConv2d(256, 256, 3, stride=2)])
        self.branch3 = nn.MaxPool2d(3, 2, pad_mode="valid")

    def construct(self, x):
        return ops.concat((self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)), 1)


class InceptionResnetV1(nn.Cell):
    """FaceNet backbone: (N, 3, 160, 160) -> (N, 512) embedding (L2-normalised if ``normalize``)."""

    def __init__(self, embedding_size=512, dropout_prob=0.6, normalize=False, input_size=(3, 160, 160)):
        super().__init__()
        if len(input_size) != 3 or input_size[0] != 3 or min(input_size[1:]) < 75:
            raise ValueError(f"Inception-ResNet-v1 takes RGB input of at least 75x75, got {tuple(input_size)}")
        self.embedding_size = embedding_size
        self.input_size = tuple(int(v) for v in input_size)
        self.normalize = normalize
        self.conv2d_1a = BasicConv2d(3, 32, 3, stride=2)
        self.conv2d_2a = BasicConv2d(32, 32, 3)
        self.conv2d_2b = BasicConv2d(32, 64, 3, padding=1)
        self.maxpool_3a = nn.MaxPool2d(3, 2, pad_mode="valid")
        self.conv2d_3b = BasicConv2d(64, 80, 1)
        self.conv2d_4a = BasicConv2d(80, 192, 3)
        self.conv2d_4b = BasicConv2d(192, 256, 3, stride=2)
        self.repeat_1 = nn.SequentialCell([Block35(0.17) for _ in range(5)])
        self.mixed_6a = Mixed6a()
        self.repeat_2 = nn.SequentialCell([Block17(0.10) for _ in range(10)])
        self.mixed_7a = Mixed7a()
        self.repeat_3 = nn.SequentialCell([Block8(0.20) for _ in range(5)])
        self.block8 = Block8(1.0, relu=False)
        self.dropout = nn.Dropout(p=dropout_prob)
        self.last_linear = nn.Dense(1792, embedding_size, has_bias=False)
        self.last_bn = nn.BatchNorm1d(embedding_size, eps=0.001, momentum=0.9)

    def construct(self, x):
        x = self.maxpool_3a(self.conv2d_2b(self.conv2d_2a(self.conv2d_1a(x))))
        x = self.conv2d_4b(self.conv2d_4a(self.conv2d_3b(x)))
        x = self.mixed_6a(self.repeat_1(x))
        x = self.mixed_7a(self.repeat_2(x))
        x = self.block8(self.repeat_3(x))
        x = self.dropout(x.mean(axis=(2, 3)))
        x = self.last_bn(self.last_linear(x))
        if self.normalize:
            x = x / ops.sqrt(ops.maximum((x * x).sum(axis=1, keepdims=True), 1e-24))
        return x
