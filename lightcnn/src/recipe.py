"""LightCNN's recipe: the MFM backbone (lightcnn9 / 29 / 29v2) + dropout + fc2 classifier, softmax cross-entropy."""
import os

from mindspore import nn

from common.recipes.contract import Recipe, register
from lightcnn.src import zoo_ckpt
from lightcnn.src.lightcnn import LightCNNClassifier  # registers lightcnn9/29/29v2 in common.nets.BACKBONES

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def build_train(cfg, backbone, num_classes):
    """Classifier over ``num_classes`` identities; fc2 has no bias for 29v2, as in the reference."""
    net = LightCNNClassifier(backbone, num_classes, cfg.get("dropout", 0.5), fc2_bias=cfg.backbone != "lightcnn29v2")
    return nn.WithLossCell(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")), \
        net.trainable_params()


RECIPE = register(Recipe(name="lightcnn", default_config=os.path.join(CONFIGS, "lightcnn9.yaml"),
                         build_train=build_train,
                         zoo_checkpoints={"lightcnn9": ("lightcnn9.yaml", zoo_ckpt.rename)}))
