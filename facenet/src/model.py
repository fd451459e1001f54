"""FaceNet glue: the backbone from the config, the triplet training network, the L2-normalised embedding net."""
import mindspore as ms
from mindspore import nn, ops

from common.data.transforms import Preprocess
from common.train.checkpoint import load_weights
from facenet.src.nets import FACENET_NETS
from facenet.src.triplet import TripletLoss

# constructor keywords each backbone takes from the config (YAML key -> constructor argument)
NET_OPTIONS = {"inception_resnet_v1": {"embedding_size": "embedding_size", "dropout": "dropout_prob"},
               "resnet50_fc128": {"embedding_size": "embedding_size"}}


def build_backbone(cfg):
    """The configured backbone; ``input_size`` follows the preprocessing's output (C, H, W)."""
    if cfg.model not in FACENET_NETS.names():
        raise SystemExit(f"error: {cfg.config}: unknown model '{cfg.model}' "
                         f"(known: {', '.join(sorted(FACENET_NETS.names()))})")
    kwargs = {arg: cfg[key] for key, arg in NET_OPTIONS.get(cfg.model, {}).items() if cfg.get(key) is not None}
    net = FACENET_NETS.create(cfg.model, **kwargs)
    net.input_size = tuple(Preprocess.from_config(cfg.preprocess).output_size)
    return net


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


def build_embedding_net(cfg, ckpt_file=None):
    """The L2-normalised embedding network, with ``ckpt_file``'s weights when given (a training checkpoint holds
    ``backbone.*`` plus optimizer state; a converted facenet-pytorch one holds bare names: both load)."""
    backbone = build_backbone(cfg)
    if ckpt_file:
        load_weights(backbone, ckpt_file)
    return L2Normalized(backbone)


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
        raise SystemExit(f"error: {cfg.config}: {exc}") from None
