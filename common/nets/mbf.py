"""insightface's MobileFaceNet ("mbf", arcface_torch; the net of ``w600k_mbf.onnx`` / buffalo_s) for 3x112x112.

It differs from :mod:`common.nets.mobilefacenet` (the MindSpore CosFace recipe's): widths scale with ``scale``
(64 * scale stem), the second stem conv is a grouped 3x3 with 64 groups (not depthwise), the bottleneck
expansions are fixed widths (128, 128, 256, 256, 512, 256), and the embedding is
GDC depthwise 7x7 + BN -> flatten -> Dense (no bias) -> BatchNorm1d. Every conv is bias-free and followed by
BatchNorm (eps 1e-5); PReLU after the non-linear ones. ``blocks`` are the residual repeats of the four stages.
"""
from mindspore import nn, ops
from mindspore.common.initializer import HeNormal

from common.nets import BACKBONES
from common.nets.prelu import PReLU


class ConvBN(nn.Cell):
    """k x k conv (``group`` groups, padding k // 2) + BN, then PReLU unless ``linear``."""

    def __init__(self, cin, cout, k=1, stride=1, group=1, linear=False, padding=None):
        super().__init__()
        pad = k // 2 if padding is None else padding
        layers = [nn.Conv2d(cin, cout, k, stride=stride, pad_mode="pad", padding=pad, group=group, has_bias=False,
                            weight_init=HeNormal(mode="fan_out")),
                  nn.BatchNorm2d(cout, eps=1e-5)]
        if not linear:
            layers.append(PReLU(cout))
        self.block = nn.SequentialCell(layers)

    def construct(self, x):
        return self.block(x)


class DepthWiseBlock(nn.Cell):
    """1x1 (cin -> mid) -> depthwise 3x3 (mid, stride) -> linear 1x1 (mid -> cout), residual when asked."""

    def __init__(self, cin, cout, mid, stride=1, residual=False):
        super().__init__()
        self.residual = residual
        self.body = nn.SequentialCell([ConvBN(cin, mid, 1), ConvBN(mid, mid, 3, stride, group=mid),
                                       ConvBN(mid, cout, 1, linear=True)])

    def construct(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class MBF(nn.Cell):
    """insightface MobileFaceNet: ``blocks`` residual repeats per stage, stem width 64 * ``scale``."""

    def __init__(self, embedding_size=512, blocks=(1, 4, 6, 2), scale=2, input_size=(3, 112, 112)):
        super().__init__()
        from common.nets.mobilefacenet import gdc_kernel

        self.embedding_size = int(embedding_size)
        self.input_size = tuple(int(v) for v in input_size)
        k = gdc_kernel(self.input_size)  # 7x7 at 112x112: the last feature map
        c1, c2 = 64 * scale, 128 * scale
        layers = [ConvBN(3, c1, 3, 2)]
        if blocks[0] == 1:
            layers.append(ConvBN(c1, c1, 3, 1, group=64))
        else:
            layers += [DepthWiseBlock(c1, c1, 128, residual=True) for _ in range(blocks[0])]
        layers.append(DepthWiseBlock(c1, c1, 128, 2))
        layers += [DepthWiseBlock(c1, c1, 128, residual=True) for _ in range(blocks[1])]
        layers.append(DepthWiseBlock(c1, c2, 256, 2))
        layers += [DepthWiseBlock(c2, c2, 256, residual=True) for _ in range(blocks[2])]
        layers.append(DepthWiseBlock(c2, c2, 512, 2))
        layers += [DepthWiseBlock(c2, c2, 256, residual=True) for _ in range(blocks[3])]
        layers.append(ConvBN(c2, 512, 1))
        self.body = nn.SequentialCell(layers)
        self.gdc = ConvBN(512, 512, k, group=512, linear=True, padding=0)
        self.fc = nn.Dense(512, self.embedding_size, has_bias=False, weight_init=HeNormal(mode="fan_out"))
        self.features = nn.BatchNorm1d(self.embedding_size, eps=1e-5)

    def construct(self, x):
        return self.features(self.fc(ops.flatten(self.gdc(self.body(x)))))


@BACKBONES.register(input_size=(3, 112, 112), any_size=True)
def mbf(embedding_size=512, blocks=(1, 4, 6, 2), scale=2, input_size=(3, 112, 112)):
    """insightface arcface_torch ``mbf`` (w600k_mbf): blocks (1, 4, 6, 2), scale 2, 512-d."""
    return MBF(embedding_size, tuple(blocks), int(scale), input_size)


@BACKBONES.register(input_size=(3, 112, 112), any_size=True)
def mbf_large(embedding_size=512, blocks=(2, 8, 12, 4), scale=4, input_size=(3, 112, 112)):
    """insightface arcface_torch ``mbf_large``: blocks (2, 8, 12, 4), scale 4, 512-d."""
    return MBF(embedding_size, tuple(blocks), int(scale), input_size)
