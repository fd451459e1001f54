"""The old MindSpore zoo's FaceNet network, kept for compatibility: ResNet-50 at 224x224, no global pooling.

7x7/2 stem, 3x3/2 max-pool, bottleneck stages [3, 4, 6, 3] (stride on the 3x3 conv) give 2048x7x7, which is
flattened into Dense(100352 -> 128). The old zoo L2-normalised and scaled this by 10 inside the net; here the
backbone returns the plain 128-d embedding (normalisation belongs to the loss / evaluation).
"""
from mindspore import nn

# the old zoo's BatchNorm eps and "same" padding (TensorFlow style: the extra row/column of a stride-2 conv
# goes at the bottom/right), so its checkpoints give the same embeddings here (python -m common.convert_zoo_ckpt)
EPS = 1e-4


class Bottleneck(nn.Cell):
    """1x1 reduce -> 3x3 (stride) -> 1x1 expand x4, with a projected shortcut when the shape changes."""

    expansion = 4

    def __init__(self, in_ch, mid_ch, stride=1):
        super().__init__()
        out_ch = mid_ch * self.expansion
        self.conv1 = nn.Conv2d(in_ch, mid_ch, 1)
        self.bn1 = nn.BatchNorm2d(mid_ch, eps=EPS)
        self.conv2 = nn.Conv2d(mid_ch, mid_ch, 3, stride, pad_mode="same")
        self.bn2 = nn.BatchNorm2d(mid_ch, eps=EPS)
        self.conv3 = nn.Conv2d(mid_ch, out_ch, 1)
        self.bn3 = nn.BatchNorm2d(out_ch, eps=EPS)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.SequentialCell([nn.Conv2d(in_ch, out_ch, 1, stride), nn.BatchNorm2d(out_ch, eps=EPS)])

    def construct(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNet50FC128(nn.Cell):
    """(N, 3, 224, 224) -> (N, 128): ResNet-50 body, flatten 2048x7x7, Dense(100352, 128)."""

    def __init__(self, embedding_size=128):
        super().__init__()
        self.embedding_size = embedding_size
        self.input_size = (3, 224, 224)
        self.conv1 = nn.Conv2d(3, 64, 7, 2, pad_mode="same")
        self.bn1 = nn.BatchNorm2d(64, eps=EPS)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, pad_mode="same")
        layers, in_ch = [], 64
        for mid, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            stage = []
            for i in range(blocks):
                stage.append(Bottleneck(in_ch, mid, stride if i == 0 else 1))
                in_ch = mid * Bottleneck.expansion
            layers.append(nn.SequentialCell(stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.flatten = nn.Flatten()
        self.fc = nn.Dense(in_ch * 7 * 7, embedding_size)

    def construct(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.flatten(x))
