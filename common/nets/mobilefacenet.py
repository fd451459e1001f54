"""MobileFaceNet as in the MindSpore CosFace model: 3x112x112 -> 128-d embedding, about 1.0 M params.

conv3x3 s2 (64) -> depthwise 3x3 (64) -> inverted-residual bottlenecks [t, c, n, s] ->
conv1x1 (512) -> 7x7 depthwise linear "GDC" -> conv1x1 linear (512 -> D) + BN -> (N, D).
The GDC kernel covers the whole last feature map (input / 16, rounded up): ``input_size=(3, 112, 96)`` (the
SphereFace crop, as Xiaoccer/MobileFaceNet_Pytorch) gives a 7x6 GDC.
Every conv is bias-free and followed by BN; PReLU after the non-linear ones. Convs He-normal (fan_out).
"""
from mindspore import nn, ops
from mindspore.common.initializer import HeNormal

from common.nets import BACKBONES
from common.nets.prelu import PReLU

BOTTLENECKS = ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))


class ConvBN(nn.Cell):
    """k x k conv (depthwise when ``depthwise``) + BN, then PReLU unless ``linear``."""

    def __init__(self, cin, cout, k, stride=1, depthwise=False, linear=False):
        super().__init__()
        layers = [nn.Conv2d(cin, cout, k, stride=stride, pad_mode="pad", padding=(1 if k == 3 else 0),
                            group=cin if depthwise else 1, has_bias=False,
                            weight_init=HeNormal(mode="fan_out")),
                  nn.BatchNorm2d(cout)]
        if not linear:
            layers.append(PReLU(cout))
        self.block = nn.SequentialCell(layers)

    def construct(self, x):
        return self.block(x)


class Bottleneck(nn.Cell):
    """1x1 expand (x t) -> 3x3 depthwise (stride) -> 1x1 linear project; residual when shapes match."""

    def __init__(self, cin, cout, stride, expansion):
        super().__init__()
        mid = cin * expansion
        self.residual = stride == 1 and cin == cout
        self.body = nn.SequentialCell([ConvBN(cin, mid, 1), ConvBN(mid, mid, 3, stride, depthwise=True),
                                       ConvBN(mid, cout, 1, linear=True)])

    def construct(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class MobileFaceNet(nn.Cell):
    """MobileFaceNet with the given bottleneck table and embedding size."""

    def __init__(self, embedding_size=128, bottlenecks=BOTTLENECKS, input_size=(3, 112, 112)):
        super().__init__()
        self.embedding_size = int(embedding_size)
        self.input_size = tuple(int(v) for v in input_size)
        layers = [ConvBN(3, 64, 3, 2), ConvBN(64, 64, 3, depthwise=True)]
        cin = 64
        for t, c, n, s in bottlenecks:
            for i in range(n):
                layers.append(Bottleneck(cin, c, s if i == 0 else 1, t))
                cin = c
        layers += [ConvBN(cin, 512, 1), ConvBN(512, 512, gdc_kernel(self.input_size), depthwise=True, linear=True),
                   ConvBN(512, self.embedding_size, 1, linear=True)]
        self.body = nn.SequentialCell(layers)

    def construct(self, x):
        return ops.flatten(self.body(x))


def gdc_kernel(input_size, strides=4, net="MobileFaceNet"):
    """(h, w) of the last feature map after ``strides`` stride-2 3x3 convs (padded: ceil(H / 2) each): the global
    depthwise kernel of MobileFaceNet / mbf, the flattened map of IResNet / SphereNet (7x7 at 112x112, 7x6 at
    112x96)."""
    if len(input_size) != 3 or int(input_size[0]) != 3:
        raise ValueError(f"{net} takes RGB input (3, H, W), got input_size {tuple(input_size)}")
    h, w = int(input_size[1]), int(input_size[2])
    if h < 2 ** strides or w < 2 ** strides:
        raise ValueError(f"input_size {tuple(input_size)} is too small for {net} (at least {2 ** strides} pixels "
                         f"a side)")
    for _ in range(strides):
        h, w = (h + 1) // 2, (w + 1) // 2
    return h, w


@BACKBONES.register(input_size=(3, 112, 112), any_size=True)
def mobilefacenet(embedding_size=128, input_size=(3, 112, 112)):
    """MobileFaceNet of the MindSpore CosFace recipe, input 3x112x112 (any (3, H, W): GDC kernel H/16 x W/16)."""
    return MobileFaceNet(embedding_size, input_size=input_size)
