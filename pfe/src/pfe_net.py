"""PFE network: a frozen face backbone gives mu, a trainable uncertainty module gives log sigma^2."""
from mindspore import nn, ops


class PFENet(nn.Cell):
    """``construct(x) -> (mu L2-normalised (N, D), log_sigma_sq (N, D))``.

    The backbone must have ``forward_features(x)`` (flattened conv features) and ``construct(x)``
    (embedding). Without ``forward_head(features)`` the trunk appears twice: graph mode merges the two
    (measured: same time as one pass), PyNative runs both (1.6x slower); with it, once. If the backbone
    has ``feature_size`` it must equal ``uncertainty.in_features``. The backbone is
    frozen: its parameters get ``requires_grad=False`` (``trainable_params()`` is the uncertainty
    module only), no gradient flows into it, and it stays in inference mode (BatchNorm uses and keeps
    its moving statistics) whatever ``set_train`` is called on this net or on a wrapper around it.
    """

    def __init__(self, backbone, uncertainty):
        super().__init__()
        if not hasattr(backbone, "forward_features"):
            raise ValueError(f"PFENet: backbone {type(backbone).__name__} has no forward_features(x)")
        size = getattr(backbone, "feature_size", None)
        if size is not None and size != uncertainty.in_features:
            raise ValueError(f"PFENet: backbone gives {size} features but the uncertainty module takes "
                             f"{uncertainty.in_features}")
        self.backbone = backbone
        self.uncertainty = uncertainty
        self.one_pass = hasattr(backbone, "forward_head")
        for param in backbone.get_parameters():
            param.requires_grad = False
        backbone.set_train(False)

    def add_flags_recursive(self, **flags):
        """Cell.set_train (ours or a wrapper's) lands here: keep the backbone in inference mode."""
        super().add_flags_recursive(**flags)
        if "training" in flags:
            self.backbone.add_flags_recursive(training=False)
        return self

    def construct(self, x):
        features = ops.stop_gradient(self.backbone.forward_features(x))
        if self.one_pass:
            embedding = self.backbone.forward_head(features)
        else:
            embedding = self.backbone(x)
        embedding = ops.stop_gradient(embedding)
        norm = ops.sqrt(ops.maximum((embedding * embedding).sum(axis=1, keepdims=True), 1e-24))
        return embedding / norm, self.uncertainty(features)


class PFEExportNet(nn.Cell):
    """Inference/export form of a PFENet (same parameters): ``construct(x) -> (mu, sigma_sq)``."""

    def __init__(self, pfe_net):
        super().__init__()
        self.net = pfe_net
        self.net.set_train(False)
        self.input_size = tuple(pfe_net.backbone.input_size)

    def construct(self, x):
        mu, log_sigma_sq = self.net(x)
        return mu, ops.exp(log_sigma_sq)
