"""PFE glue: the PFE network (frozen base backbone + uncertainty module), its loss and inference cells.

The base model (backbone + CosFace head) is common/recipes/margin.py's; its backbone builder is reused here so the
base and the PFE configs name the backbone the same way (``backbone``, ``backbone_args``).
"""
import os

from mindspore import nn, ops

from common.core.errors import FaceIdError
from common.nets import build_backbone
from common.train.checkpoint import load_weights
from pfe.src.mls import MLSLoss
from pfe.src.pfe_net import PFEExportNet, PFENet
from pfe.src.uncertainty import UncertaintyModule

# names a PFE training checkpoint gives the weights of the PFE network (TrainOneStepCell -> loss cell -> PFENet)
PFE_PREFIXES = ("network.net.", "net.")


def build_pfe(cfg, base_ckpt=None, backbone=None):
    """A PFENet: the config's backbone (weights from ``base_ckpt`` when given, then frozen) + uncertainty module."""
    backbone = backbone if backbone is not None else build_backbone(cfg)
    if base_ckpt:
        load_weights(backbone, base_ckpt, strip_prefixes=("backbone.",) + tuple(p + "backbone." for p in PFE_PREFIXES))
    uncertainty = UncertaintyModule(in_features=backbone.feature_size, embedding_size=backbone.embedding_size,
                                    **dict(cfg.get("uncertainty") or {}))
    return PFENet(backbone, uncertainty)


def load_pfe(cfg, ckpt):
    """A PFENet with every weight (backbone and uncertainty) from a pfe/train.py checkpoint."""
    if not os.path.isfile(ckpt):
        raise FaceIdError(f"checkpoint not found: {ckpt}")
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
    """``x -> [mu | sigma^2]`` (N, 2D) in one array, for the shared single-output embedding extractor.
    Takes a PFENet or its PFEExportNet."""

    def __init__(self, pfe_net):
        super().__init__()
        self.net = pfe_net if isinstance(pfe_net, PFEExportNet) else PFEExportNet(pfe_net)
        self.input_size = self.net.input_size

    def construct(self, x):
        mu, sigma_sq = self.net(x)
        return ops.concat((mu, sigma_sq), axis=1)


def split_concat(out):
    """(N, 2D) from :class:`PFEConcat` -> (mu (N, D), sigma_sq (N, D))."""
    d = out.shape[1] // 2
    return out[:, :d], out[:, d:]


class PFEMu(nn.Cell):
    """``x -> mu`` of a PFEExportNet: the plain embedding for protocols that score one vector per image."""

    def __init__(self, export_net):
        super().__init__()
        self.net = export_net
        self.input_size = export_net.input_size

    def construct(self, x):
        return self.net(x)[0]
