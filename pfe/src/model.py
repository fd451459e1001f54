"""PFE glue: build the base (SphereNet + CosFace) network, the PFE network and their loss cells from a config."""
import os

from mindspore import nn, ops

from common.data.transforms import Preprocess
from common.heads import create_head
from common.nets import create_backbone
from common.train.checkpoint import load_weights
from pfe.src.mls import MLSLoss
from pfe.src.pfe_net import PFEExportNet, PFENet
from pfe.src.uncertainty import UncertaintyModule

# names a PFE training checkpoint gives the weights of the PFE network (TrainOneStepCell -> loss cell -> PFENet)
PFE_PREFIXES = ("network.net.", "net.")
# and a base training checkpoint the backbone's (TrainOneStepCell -> loss cell -> backbone)
BASE_PREFIXES = ("network.backbone.", "backbone.")


def build_backbone(cfg):
    """The SphereNet of the config (``backbone``, ``embedding_size``, optional ``widths``), input checked."""
    kwargs = {"embedding_size": int(cfg.embedding_size)}
    if cfg.get("widths"):
        kwargs["widths"] = tuple(int(w) for w in cfg.widths)
    net = create_backbone(cfg.backbone, **kwargs)
    size = tuple(Preprocess.from_config(cfg.preprocess).output_size)
    if size != tuple(net.input_size):
        raise SystemExit(f"error: {cfg.config}: preprocess gives {size} images but {cfg.backbone} takes "
                         f"{tuple(net.input_size)} (use crop: [112, 96], channels: 3)")
    return net


class BaseWithLoss(nn.Cell):
    """Base model training: cross entropy of the margin head's logits on the backbone embedding."""

    def __init__(self, backbone, head):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.ce = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")

    def construct(self, images, labels):
        return self.ce(self.head(self.backbone(images), labels), labels)


def build_base(cfg, num_classes):
    """(loss cell, backbone) for pfe/train_base.py: backbone + ``head`` (cosface) with ``head_args``."""
    backbone = build_backbone(cfg)
    head = create_head(cfg.head, backbone.embedding_size, num_classes, **dict(cfg.get("head_args") or {}))
    return BaseWithLoss(backbone, head), backbone


def build_pfe(cfg, base_ckpt=None):
    """A PFENet: the config's backbone (weights from ``base_ckpt`` when given, then frozen) + uncertainty module."""
    backbone = build_backbone(cfg)
    if base_ckpt:
        load_weights(backbone, base_ckpt, strip_prefixes=BASE_PREFIXES + PFE_PREFIXES + ("backbone.",))
    uncertainty = UncertaintyModule(in_features=backbone.feature_size, embedding_size=backbone.embedding_size,
                                    **dict(cfg.get("uncertainty") or {}))
    return PFENet(backbone, uncertainty)


def load_pfe(cfg, ckpt):
    """A PFENet with every weight (backbone and uncertainty) from a pfe/train.py checkpoint."""
    if not os.path.isfile(ckpt):
        raise SystemExit(f"error: checkpoint not found: {ckpt}")
    net = build_pfe(cfg)
    load_weights(net, ckpt, strip_prefixes=PFE_PREFIXES)
    return net


class PFEWithLoss(nn.Cell):
    """``(images, labels) -> MLS loss`` of the PFE network's (mu, log sigma^2)."""

    def __init__(self, pfe_net):
        super().__init__()
        self.net = pfe_net
        self.loss = MLSLoss()

    def construct(self, images, labels):
        mu, log_sigma_sq = self.net(images)
        return self.loss(mu, log_sigma_sq, labels)


class PFEConcat(nn.Cell):
    """``x -> [mu | sigma^2]`` (N, 2D) in one array, for the shared single-output embedding extractor."""

    def __init__(self, pfe_net):
        super().__init__()
        self.net = PFEExportNet(pfe_net)

    def construct(self, x):
        mu, sigma_sq = self.net(x)
        return ops.concat((mu, sigma_sq), axis=1)


def split_concat(out):
    """(N, 2D) from :class:`PFEConcat` -> (mu (N, D), sigma_sq (N, D))."""
    d = out.shape[1] // 2
    return out[:, :d], out[:, d:]
