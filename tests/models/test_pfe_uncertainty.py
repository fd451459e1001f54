"""PFE uncertainty module: parameter count from the layer table, forward pass against numpy."""
import numpy as np
import mindspore as ms

from pfe.src.uncertainty import UncertaintyModule
from common.core.env import set_device  # noqa: E402

set_device("CPU")


def test_param_count_sphere64_features():
    net = UncertaintyModule(in_features=21504, embedding_size=512)
    n = sum(int(np.prod(p.shape)) for p in net.trainable_params())
    # fc1 21504x512 (no bias) + bn1 gamma,beta 2x512 + fc2 512x512 (no bias) + bn2 none + scalar gamma,beta
    expected = 21504 * 512 + 2 * 512 + 512 * 512 + 2
    assert n == expected == 11_273_218
    assert abs(n - 11.27e6) / 11.27e6 < 0.01
    assert {p.name for p in net.weight_decay_params()} == {"fc1.weight", "fc2.weight"}


def _numpy_forward(net, x, batch_stats):
    def bn(h, layer, affine):
        if batch_stats:
            mean, var = h.mean(0), h.var(0)
        else:
            mean, var = layer.moving_mean.asnumpy(), layer.moving_variance.asnumpy()
        h = (h - mean) / np.sqrt(var + 1e-3)
        return h * layer.gamma.asnumpy() + layer.beta.asnumpy() if affine else h

    h = np.maximum(bn(x @ net.fc1.weight.asnumpy().T, net.bn1, True), 0)
    h = bn(h @ net.fc2.weight.asnumpy().T, net.bn2, False)
    h = float(net.gamma.asnumpy()) * h + float(net.beta.asnumpy())
    return np.log(1e-6 + np.exp(h))


def test_forward_matches_numpy_train_and_eval():
    ms.set_seed(0)
    net = UncertaintyModule(in_features=20, embedding_size=6, gamma_init=0.5, beta_init=-1.0)
    # non-trivial BN state so the eval path is really checked
    net.bn1.moving_mean.set_data(ms.Tensor(np.linspace(-1, 1, 6), ms.float32))
    net.bn2.moving_variance.set_data(ms.Tensor(np.linspace(0.5, 2, 6), ms.float32))
    net.bn1.gamma.set_data(ms.Tensor(np.linspace(0.5, 1.5, 6), ms.float32))
    x = np.random.default_rng(0).normal(size=(5, 20)).astype(np.float32)
    for training in (False, True):
        net.set_train(training)
        got = net(ms.Tensor(x)).asnumpy()
        np.testing.assert_allclose(got, _numpy_forward(net, x, training), rtol=1e-4, atol=1e-5)


def test_initial_sigma_is_tiny_and_floored():
    net = UncertaintyModule(in_features=20, embedding_size=6)
    net.set_train(False)
    x = np.random.default_rng(1).normal(size=(4, 20)).astype(np.float32)
    log_sigma_sq = net(ms.Tensor(x)).asnumpy()
    # gamma 1e-4, beta -7: log(1e-6 + exp(~-7)) everywhere at initialisation
    np.testing.assert_allclose(log_sigma_sq, np.log(1e-6 + np.exp(-7.0)), atol=1e-3)
    assert (log_sigma_sq >= np.log(1e-6)).all()
