"""LightCNN-9 / -29 / -29v2 (Wu et al., TIFS 2018) with Max-Feature-Map, for MindSpore.

Layer tables follow the public reference (AlfredXiangWu/LightCNN): 1x128x128 grayscale
input, 256-d embedding. Backbones return the embedding; ``LightCNNClassifier`` adds the
training classifier (dropout + fc2) which export drops.
"""
from mindspore import nn, ops
from mindspore.common.initializer import XavierUniform

from common.nets import BACKBONES


class MaxOfHalves(nn.Cell):
    """``max(x[:, :C], x[:, C:])`` for 2C channels (axis 1), with a hand-written backward.

    MindSpore 2.10's CPU autodiff of ``ops.maximum`` over two slices scatters each half's gradient into a zero
    tensor of the full 2C size and adds them (StridedSliceGrad x2 + AddN, then Select/Div/Equal/Less/Greater):
    about a third of a LightCNN-9 training step. This backward gives the same values in one pass over C: the
    larger half gets ``dout``, the other 0, and ties split ``dout`` in two halves as ``ops.maximum`` and
    ``torch.maximum`` do (``dout - dout / 2`` is exact in floating point).
    """

    def __init__(self):
        super().__init__()
        self.split = ops.Split(axis=1, output_num=2)
        self.concat = ops.Concat(axis=1)
        self.select = ops.Select()

    def construct(self, x):
        a, b = self.split(x)
        return ops.maximum(a, b)

    def bprop(self, x, out, dout):
        a, b = self.split(x)
        half = dout * 0.5
        da = self.select(a > b, dout, self.select(a == b, half, ops.zeros_like(dout)))
        return (self.concat((da, dout - da)),)


class MFM(nn.Cell):
    """Max-Feature-Map: a conv (or dense) to 2C outputs, then the elementwise max of the two halves."""

    def __init__(self, in_ch, out_ch, kernel_size=3, stride=1, padding=1, dense=False):
        super().__init__()
        if dense:
            self.filter = nn.Dense(in_ch, 2 * out_ch, weight_init=XavierUniform())
        else:
            self.filter = nn.Conv2d(in_ch, 2 * out_ch, kernel_size, stride, pad_mode="pad", padding=padding,
                                    has_bias=True, weight_init=XavierUniform())
        self.max_of_halves = MaxOfHalves()

    def construct(self, x):
        return self.max_of_halves(self.filter(x))


class Group(nn.Cell):
    """1x1 MFM (C->C) followed by a kxk MFM (C->out)."""

    def __init__(self, in_ch, out_ch, kernel_size=3, stride=1, padding=1):
        super().__init__()
        self.conv_a = MFM(in_ch, in_ch, 1, 1, 0)
        self.conv = MFM(in_ch, out_ch, kernel_size, stride, padding)

    def construct(self, x):
        return self.conv(self.conv_a(x))


class ResBlock(nn.Cell):
    """Two 3x3 MFM convs with an identity shortcut."""

    def __init__(self, ch):
        super().__init__()
        self.conv1 = MFM(ch, ch)
        self.conv2 = MFM(ch, ch)

    def construct(self, x):
        return self.conv2(self.conv1(x)) + x


class Pool(nn.Cell):
    """2x2 max pool; v2 networks add the 2x2 average pool (max + avg)."""

    def __init__(self, with_avg=False):
        super().__init__()
        self.max = nn.MaxPool2d(2, 2)
        self.avg = nn.AvgPool2d(2, 2) if with_avg else None

    def construct(self, x):
        if self.avg is None:
            return self.max(x)
        return self.max(x) + self.avg(x)


class LightCNN(nn.Cell):
    """Backbone: image (N,1,H,W) -> 256-d embedding; the paper's H = W = 128 (fc input 8x8x128).

    Other sizes (multiples of 16) change only the fc input, e.g. the 64x64 demo variant."""

    embedding_size = 256


    def __init__(self, blocks=None, v2=False, input_hw=(128, 128)):
        super().__init__()
        h, w = input_hw
        if h % 16 or w % 16:
            raise ValueError(f"LightCNN input height and width must be multiples of 16, got {h}x{w}")
        self.input_size = (1, h, w)
        flat = 128 * (h // 16) * (w // 16)
        layers = [MFM(1, 48, 5, 1, 2), Pool(v2)]
        plan = [(48, 96, True), (96, 192, True), (192, 128, False), (128, 128, True)]
        for i, (cin, cout, pool_after) in enumerate(plan):
            if blocks is not None:
                layers += [ResBlock(cin) for _ in range(blocks[i])]
            layers.append(Group(cin, cout))
            if pool_after:
                layers.append(Pool(v2))
        self.features = nn.SequentialCell(layers)
        self.flatten = nn.Flatten()
        if v2:
            self.fc = nn.Dense(flat, 256, weight_init=XavierUniform())
        else:
            self.fc = MFM(flat, 256, dense=True)

    def construct(self, x):
        return self.fc(self.flatten(self.features(x)))


@BACKBONES.register(input_size=(1, 128, 128), any_size=True)
def lightcnn9(input_size=(1, 128, 128)):
    return LightCNN(input_hw=_hw(input_size))


@BACKBONES.register(input_size=(1, 128, 128), any_size=True)
def lightcnn29(input_size=(1, 128, 128)):
    return LightCNN(blocks=(1, 2, 3, 4), input_hw=_hw(input_size))


@BACKBONES.register(input_size=(1, 128, 128), any_size=True)
def lightcnn29v2(input_size=(1, 128, 128)):
    return LightCNN(blocks=(1, 2, 3, 4), v2=True, input_hw=_hw(input_size))


def _hw(input_size):
    if len(input_size) != 3 or int(input_size[0]) != 1:
        raise ValueError(f"LightCNN takes gray input (1, H, W), got input_size {tuple(input_size)}")
    return int(input_size[1]), int(input_size[2])


class LightCNNClassifier(nn.Cell):
    """Training network: backbone -> dropout -> fc2 logits. ``fc2`` has no bias for 29v2, as in the reference."""

    def __init__(self, backbone, num_classes, dropout=0.5, fc2_bias=True):
        super().__init__()
        self.backbone = backbone
        self.dropout = nn.Dropout(p=dropout)
        self.fc2 = nn.Dense(backbone.embedding_size, num_classes, has_bias=fc2_bias)

    def construct(self, x):
        return self.fc2(self.dropout(self.backbone(x)))
