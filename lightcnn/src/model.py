"""LightCNN glue: build the training network and the embedding network from the config."""
from mindspore import nn

from common.data.transforms import Preprocess
from lightcnn.src.lightcnn import LIGHTCNN, LightCNNClassifier


def build_backbone(cfg):
    _, h, w = Preprocess.from_config(cfg.preprocess).output_size
    return LIGHTCNN.create(cfg.model, input_hw=(h, w))


def load_backbone(cfg, ckpt=None):
    """The embedding network, with weights from ``ckpt`` (a training or weights-only checkpoint) if given."""
    from common.train.checkpoint import load_weights

    net = build_backbone(cfg)
    if ckpt:
        load_weights(net, ckpt)
    return net


def build_classifier(cfg, num_classes):
    backbone = build_backbone(cfg)
    return LightCNNClassifier(backbone, num_classes, cfg.get("dropout", 0.5), fc2_bias=cfg.model != "lightcnn29v2")


def build_loss():
    return nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
