"""Margin-softmax face models (CosFace, ArcFace / LResNet100E-IR): backbone + MarginHead + cross-entropy.

A model folder's YAML names the parts, so one module serves every such model::

    backbone: iresnet100              # a name in common.nets.BACKBONES
    backbone_args: {embedding_size: 512}
    head: arcface                     # a name in common.heads.margin.HEADS (arcface, cosface, softmax, margin)
    head_args: {s: 64.0, m: 0.5}

``margin_recipe`` gives such a model its recipe (common/recipes/contract.py); the flows in common/flows do the rest.
"""

from mindspore import dtype as mstype
from mindspore import nn, ops

from common.heads import partial_fc
from common.core.errors import FaceIdError
from common.heads.margin import create_head


class MarginClassifier(nn.Cell):
    """``construct(images, labels)`` -> mean softmax cross-entropy of the margin logits.

    The cross-entropy is computed as max + log(sum(exp(logits - max))) - target logit: MindSpore 2.10's
    CPU ``SoftmaxCrossEntropyWithLogits`` returns inf once logits of a row differ by more than ~88
    (float32 exp underflow), which s=64 margin logits reach (up to 128 apart).
    """

    def __init__(self, backbone, head):
        super().__init__()
        self.backbone, self.head = backbone, head

    def construct(self, images, labels):
        return stable_cross_entropy(self.head(self.backbone(images), labels), labels)


def stable_cross_entropy(logits, labels):
    """Mean over rows of logsumexp(logits) - logits[label], overflow/underflow free in float32."""
    top = ops.stop_gradient(logits.max(axis=1, keepdims=True))
    lse = ops.log(ops.exp(logits - top).sum(axis=1)) + top.squeeze(1)
    target = ops.gather_elements(logits, 1, labels.astype(mstype.int32).expand_dims(1)).squeeze(1)
    return (lse - target).mean()


def build_backbone(cfg):
    """The config's backbone, checked against the preprocessing (common.nets.build_backbone)."""
    from common.nets import build_backbone as build

    return build(cfg)


def build_train_network(cfg, num_classes, backbone=None):
    """(MarginClassifier, backbone) for ``num_classes`` identities (a new backbone unless one is given)."""
    backbone = backbone if backbone is not None else build_backbone(cfg)
    try:
        head = create_head(cfg.head, backbone.embedding_size, partial_fc.local_classes(cfg, num_classes),
                           **dict(cfg.get("head_args") or {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise FaceIdError(f"{cfg.config}: head '{cfg.head}' with head_args {dict(cfg.get('head_args') or {})}: "
                          f"{str(exc).strip(chr(34) + chr(39))}") from None
    if cfg.get("head_parallel"):  # class centres sharded over the ranks (common/heads/partial_fc.py)
        return partial_fc.classifier(cfg, backbone, head, num_classes), backbone
    return MarginClassifier(backbone, head), backbone


def build_train(cfg, backbone, num_classes):
    """The recipe's ``build_train``: margin classifier on ``backbone``; trains every parameter."""
    net, _ = build_train_network(cfg, num_classes, backbone)
    return net, net.trainable_params()


def margin_recipe(name, default_config, **kwargs):
    """The recipe of a margin-softmax model (CosFace, ArcFace / LResNet100E-IR, PFE's base)."""
    from common.recipes.contract import Recipe

    return Recipe(name=name, default_config=default_config, build_train=build_train, **kwargs)
