"""SphereNet (CosFace paper / PFE "64-CNN") for 3x112x96 faces, no BatchNorm in the trunk.

Four modules, each a 3x3 stride-2 conv with bias followed by ``layers[i]`` residual units of two
bias-free 3x3 convs; PReLU (alpha initialised to 0, as PFE) after every conv; TF "SAME" padding.
Head: flatten (widths[-1] * 7 * 6) -> Dense (no bias) -> BatchNorm1d with centre only: PFE uses
``scale=False``, here gamma is fixed at 1 and frozen (counted as 512 frozen parameters), eps 1e-3,
moving-average decay 0.995. Init as PFE: Xavier-uniform transition convs and FC, normal(0.01) truncated
at 2 std for residual convs.
"""
from mindspore import nn, ops
from mindspore.common.initializer import TruncatedNormal, XavierUniform

from common.nets import BACKBONES
from common.nets.prelu import PReLU

DEPTHS = {20: (1, 2, 4, 1), 64: (3, 8, 16, 3)}
WIDTHS = (64, 128, 256, 512)


def _unit_conv(channels, bias=False):
    return nn.Conv2d(channels, channels, 3, pad_mode="same", has_bias=bias,
                     weight_init=TruncatedNormal(0.01, a=-0.02, b=0.02))


class ResidualUnit(nn.Cell):
    """x + PReLU(conv3x3(PReLU(conv3x3(x)))); ``bias`` gives the two convs biases (sphereface's sphere20a)."""

    def __init__(self, channels, bias=False):
        super().__init__()
        self.body = nn.SequentialCell([_unit_conv(channels, bias), PReLU(channels, w=0.0),
                                       _unit_conv(channels, bias), PReLU(channels, w=0.0)])

    def construct(self, x):
        return x + self.body(x)


class SphereNet(nn.Cell):
    """SphereNet with ``layers`` residual units per module at ``widths`` channels.

    Defaults are PFE's / the CosFace paper's net. ``sphereface=True`` is the layout of the public SphereFace
    PyTorch model (clcarwin/sphereface_pytorch ``sphere20a``): stride-2 convs padded 1 on every side (not TF
    "SAME", which pads only bottom/right), biases on the residual convs, and a Dense with bias as the last layer
    (no BatchNorm)."""

    def __init__(self, layers=DEPTHS[64], widths=WIDTHS, embedding_size=512, sphereface=False,
                 input_size=(3, 112, 96)):
        super().__init__()
        from common.nets.mobilefacenet import gdc_kernel

        if len(layers) != 4 or len(widths) != 4:
            raise ValueError(f"SphereNet needs 4 depths and 4 widths, got layers={layers} widths={widths}")
        self.embedding_size = int(embedding_size)
        self.input_size = tuple(int(v) for v in input_size)
        fh, fw = gdc_kernel(self.input_size, net="SphereNet")  # the map the fc flattens: 7x6 at 112x96
        pad = dict(pad_mode="pad", padding=1) if sphereface else dict(pad_mode="same")
        cells, cin = [], 3
        for n, cout in zip(layers, widths):
            cells += [nn.Conv2d(cin, cout, 3, stride=2, has_bias=True, weight_init=XavierUniform(),
                                bias_init="zeros", **pad), PReLU(cout, w=0.0)]
            cells += [ResidualUnit(cout, bias=sphereface) for _ in range(n)]
            cin = cout
        self.trunk = nn.SequentialCell(cells)
        self.feature_size = widths[-1] * fh * fw
        self.fc = nn.Dense(self.feature_size, self.embedding_size, has_bias=sphereface, weight_init=XavierUniform())
        self.use_bn = not sphereface
        if self.use_bn:
            self.bn = nn.BatchNorm1d(self.embedding_size, eps=1e-3, momentum=0.995)
            self.bn.gamma.requires_grad = False

    def forward_features(self, x):
        """Flattened conv output (N, feature_size), in NCHW (C, H, W) order; PFE's uncertainty input."""
        return ops.flatten(self.trunk(x))

    def construct(self, x):
        x = self.fc(self.forward_features(x))
        return self.bn(x) if self.use_bn else x


@BACKBONES.register(input_size=(3, 112, 96), any_size=True)
def spherenet20(embedding_size=512, widths=WIDTHS, input_size=(3, 112, 96)):
    """SphereNet-20 ([1, 2, 4, 1] units); pass small ``widths`` for a tiny test/demo net."""
    return SphereNet(DEPTHS[20], widths, embedding_size, input_size=input_size)


@BACKBONES.register(input_size=(3, 112, 96), any_size=True)
def spherenet64(embedding_size=512, widths=WIDTHS, input_size=(3, 112, 96)):
    """SphereNet-64 ([3, 8, 16, 3] units), the PFE / CosFace-paper 64-layer base network."""
    return SphereNet(DEPTHS[64], widths, embedding_size, input_size=input_size)


@BACKBONES.register(input_size=(3, 112, 96), any_size=True)
def spherenet20a(embedding_size=512, widths=WIDTHS, input_size=(3, 112, 96)):
    """SphereNet-20 in the public SphereFace PyTorch layout (``sphere20a``: symmetric padding, conv biases,
    Dense-with-bias embedding, no BatchNorm) for imported sphereface_pytorch weights."""
    return SphereNet(DEPTHS[20], widths, embedding_size, sphereface=True, input_size=input_size)
