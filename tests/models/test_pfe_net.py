"""PFENet: frozen backbone (weights, BN statistics, no gradient) while the uncertainty module trains."""
import numpy as np
import pytest
import mindspore as ms
from mindspore import nn

from common.nets.spherenet import SphereNet, spherenet20
from pfe.src.mls import MLSLoss
from pfe.src.pfe_net import PFEExportNet, PFENet
from pfe.src.uncertainty import UncertaintyModule
from common.core.env import set_device  # noqa: E402

set_device("CPU")
WIDTHS = (4, 8, 8, 8)  # tiny SphereNet-20: 8 * 7 * 6 = 336 conv features
LABELS = np.array([0, 0, 1, 1, 2, 2], np.int32)


class HeadSphereNet(SphereNet):
    """SphereNet with forward_head, so PFENet runs the trunk once."""

    def forward_head(self, features):
        return self.bn(self.fc(features))


def _net(backbone=None):
    ms.set_seed(0)
    backbone = backbone or spherenet20(embedding_size=16, widths=WIDTHS)
    return PFENet(backbone, UncertaintyModule(in_features=336, embedding_size=16))


def _images(seed=0):
    return ms.Tensor(np.random.default_rng(seed).normal(size=(6, 3, 112, 96)).astype(np.float32))


def _snapshot(cell):
    return {name: p.asnumpy().copy() for name, p in cell.parameters_and_names()}


def _snapshot_params(net):
    return {p.name: ms.Parameter(p.data.copy(), name=p.name) for p in net.get_parameters()}


def test_outputs_match_backbone_and_uncertainty():
    net = _net()
    x = _images()
    mu, log_sigma_sq = net(x)
    emb = net.backbone(x).asnumpy()
    np.testing.assert_allclose(mu.asnumpy(), emb / np.linalg.norm(emb, axis=1, keepdims=True),
                               rtol=1e-5, atol=1e-6)
    feats = net.backbone.forward_features(x)
    np.testing.assert_allclose(log_sigma_sq.asnumpy(), net.uncertainty(feats).asnumpy(), rtol=1e-6)
    mu_e, sigma_sq = PFEExportNet(net)(x)
    np.testing.assert_allclose(mu_e.asnumpy(), mu.asnumpy(), rtol=1e-6)
    np.testing.assert_allclose(sigma_sq.asnumpy(), np.exp(log_sigma_sq.asnumpy()), rtol=1e-5)


def test_one_pass_head_gives_same_outputs():
    ms.set_seed(0)
    two = _net(spherenet20(embedding_size=16, widths=WIDTHS))
    one = _net(HeadSphereNet((1, 2, 4, 1), WIDTHS, 16))
    ms.load_param_into_net(one, _snapshot_params(two))
    assert one.one_pass and not two.one_pass
    x = _images(1)
    for a, b in zip(one(x), two(x)):
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-5, atol=1e-6)


def test_only_uncertainty_is_trainable():
    net = _net()
    names = [p.name for p in net.trainable_params()]
    assert names and all(n.startswith("uncertainty.") for n in names)
    assert len(names) == len(net.uncertainty.trainable_params())


class _WithLoss(nn.Cell):
    def __init__(self, net):
        super().__init__()
        self.net, self.loss = net, MLSLoss()

    def construct(self, x, labels):
        mu, log_sigma_sq = self.net(x)
        return self.loss(mu, log_sigma_sq, labels)


def test_backbone_frozen_through_three_graph_mode_steps():
    net = _net()
    train_net = _WithLoss(net)
    train_net.set_train(True)  # a wrapper's set_train must not flip the backbone back to training
    assert net.uncertainty.bn1.training
    assert not any(c.training for _, c in net.backbone.cells_and_names())
    backbone0, uncertainty0 = _snapshot(net.backbone), _snapshot(net.uncertainty)
    opt = nn.SGD(net.trainable_params(), learning_rate=0.1)
    grad_fn = ms.value_and_grad(train_net, None, opt.parameters)

    @ms.jit
    def step(x, labels):
        loss, grads = grad_fn(x, labels)
        opt(grads)
        return loss

    labels = ms.Tensor(LABELS)
    losses = [float(step(_images(i), labels).asnumpy()) for i in range(3)]
    assert all(np.isfinite(losses))
    backbone1, uncertainty1 = _snapshot(net.backbone), _snapshot(net.uncertainty)
    for name, value in backbone0.items():  # weights and BN moving mean/variance
        np.testing.assert_array_equal(backbone1[name], value, err_msg=name)
    for name in ("fc1.weight", "fc2.weight", "gamma", "beta", "bn1.moving_mean", "bn2.moving_variance"):
        assert not np.array_equal(uncertainty1[name], uncertainty0[name]), name


def test_no_gradient_reaches_backbone():
    net = _net()
    train_net = _WithLoss(net)
    train_net.set_train(True)
    net.backbone.fc.weight.requires_grad = True  # even a param unfrozen by hand gets no gradient
    weights = ms.ParameterTuple([net.backbone.fc.weight, net.uncertainty.fc1.weight])
    _, (g_backbone, g_uncertainty) = ms.value_and_grad(train_net, None, weights)(_images(), ms.Tensor(LABELS))
    assert not g_backbone.asnumpy().any()
    assert g_uncertainty.asnumpy().any()


def test_feature_size_mismatch_is_reported():
    with pytest.raises(ValueError, match="backbone gives 336 features but the uncertainty module takes 100"):
        PFENet(spherenet20(embedding_size=16, widths=WIDTHS), UncertaintyModule(100, 16))


@pytest.mark.parametrize("fmt", ["MINDIR", "ONNX"])
def test_export_net_round_trip(tmp_path, fmt):
    net = PFEExportNet(_net())
    x = _images(2)
    want = [t.asnumpy() for t in net(x)]
    path = str(tmp_path / "pfe")
    ms.export(net, x, file_name=path, file_format=fmt)
    if fmt == "MINDIR":
        got = [t.asnumpy() for t in nn.GraphCell(ms.load(path + ".mindir"))(x)]
    else:
        ort = pytest.importorskip("onnxruntime")
        session = ort.InferenceSession(path + ".onnx", providers=["CPUExecutionProvider"])
        got = session.run(None, {session.get_inputs()[0].name: x.asnumpy()})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
