"""FaceNet cells: the triplet training network and the L2-normalised embedding net."""
import mindspore as ms
from mindspore import nn, ops

from common.core.errors import FaceIdError
from facenet.src.triplet import TripletLoss


class L2Normalized(nn.Cell):
    """``backbone(x) / |backbone(x)|``: the embedding evaluation and export use (cosine = dot product)."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        self.embedding_size = backbone.embedding_size
        self.input_size = backbone.input_size

    def construct(self, x):
        e = self.backbone(x)
        return e / ops.sqrt(ops.maximum((e * e).sum(axis=1, keepdims=True), 1e-24))


class TripletNet(nn.Cell):
    """``(images, labels) -> triplet loss`` mined inside the P x K batch (the loss L2-normalises first)."""

    def __init__(self, backbone, loss):
        super().__init__()
        self.backbone = backbone
        self.loss = loss

    def construct(self, images, labels):
        return self.loss(ops.cast(self.backbone(images), ms.float32), labels)  # loss math in float32 under amp


def build_loss(cfg):
    try:
        return TripletLoss(cfg.margin, cfg.mining, squared=bool(cfg.get("squared_distance", True)))
    except ValueError as exc:
        raise FaceIdError(f"{cfg.config}: {exc}") from None
