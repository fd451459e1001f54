"""LightCNN: MFM (values and gradients) against numpy and PyTorch, parameter counts against layer-table arithmetic and the paper."""
import mindspore as ms
import numpy as np
import pytest

from common.nets import BACKBONES
from lightcnn.src.lightcnn import MFM
from common.core.env import set_device  # noqa: E402


def _conv_mfm(c_in, c_out, k):   # conv k x k to 2*c_out, with bias
    return c_in * 2 * c_out * k * k + 2 * c_out


def _group(c_in, c_out):
    return _conv_mfm(c_in, c_in, 1) + _conv_mfm(c_in, c_out, 3)


def _expected(blocks=None, v2=False):
    n = _conv_mfm(1, 48, 5)
    for i, (a, b) in enumerate([(48, 96), (96, 192), (192, 128), (128, 128)]):
        if blocks:
            n += blocks[i] * 2 * _conv_mfm(a, a, 3)
        n += _group(a, b)
    n += (8192 * 256 + 256) if v2 else (8192 * 512 + 512)
    return n


@pytest.mark.parametrize("name,blocks,v2,paper", [("lightcnn9", None, False, 5.48e6),
                                                  ("lightcnn29", (1, 2, 3, 4), False, 12.57e6),
                                                  ("lightcnn29v2", (1, 2, 3, 4), True, 10.48e6)])
def test_parameter_counts(name, blocks, v2, paper):
    net = BACKBONES.create(name)
    count = sum(p.size for p in net.get_parameters())
    assert count == _expected(blocks, v2)
    assert abs(count - paper) / paper < 0.01


def test_mfm_conv_against_numpy():
    set_device("CPU")
    rng = np.random.default_rng(0)
    cell = MFM(3, 4, kernel_size=3, stride=1, padding=1)
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    cell.filter.weight.set_data(ms.Tensor(w))
    cell.filter.bias.set_data(ms.Tensor(b))
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    got = cell(ms.Tensor(x)).asnumpy()
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((2, 8, 5, 6), np.float64)
    for i in range(5):
        for j in range(6):
            patch = xp[:, :, i:i + 3, j:j + 3]
            conv[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w) + b
    expect = np.maximum(conv[:, :4], conv[:, 4:])
    np.testing.assert_allclose(got, expect, rtol=1e-4, atol=1e-4)


def test_mfm_dense_against_numpy():
    rng = np.random.default_rng(1)
    cell = MFM(10, 3, dense=True)
    w = rng.standard_normal((6, 10)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    cell.filter.weight.set_data(ms.Tensor(w))
    cell.filter.bias.set_data(ms.Tensor(b))
    x = rng.standard_normal((4, 10)).astype(np.float32)
    y = x @ w.T + b
    np.testing.assert_allclose(cell(ms.Tensor(x)).asnumpy(), np.maximum(y[:, :3], y[:, 3:]), rtol=1e-5, atol=1e-5)


def test_embedding_shape_and_small_input():
    net = BACKBONES.create("lightcnn9", input_size=(1, 32, 32))
    net.set_train(False)
    out = net(ms.Tensor(np.zeros((2, 1, 32, 32), np.float32)))
    assert out.shape == (2, 256)
    with pytest.raises(ValueError, match="multiples of 16"):
        BACKBONES.create("lightcnn9", input_size=(1, 30, 32))


@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, ms.GRAPH_MODE])
@pytest.mark.parametrize("tied", [False, True])
def test_mfm_gradients_equal_torch(mode, tied):
    """MFM's hand-written backward: input and weight gradients equal PyTorch autograd (conv + torch.maximum);
    ``tied`` duplicates the first half's filters into the second, so every output is a tie (gradient split).
    Graph mode (training's default) runs the hand-written backward; PyNative may differentiate the forward itself."""
    torch = pytest.importorskip("torch", reason="PyTorch is the independent reference for MFM's gradients")
    from mindspore import nn

    set_device("CPU")
    rng = np.random.default_rng(2)
    w = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    if tied:
        w[3:], b[3:] = w[:3], b[:3]
    x = rng.standard_normal((2, 2, 5, 4)).astype(np.float32)
    r = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)

    cell = MFM(2, 3, kernel_size=3, stride=1, padding=1)
    cell.filter.weight.set_data(ms.Tensor(w))
    cell.filter.bias.set_data(ms.Tensor(b))

    class Loss(nn.Cell):
        def __init__(self):
            super().__init__()
            self.mfm, self.r = cell, ms.Tensor(r)

        def construct(self, v):
            return (self.mfm(v) * self.r).sum()

    ms.set_context(mode=mode)
    try:
        loss = Loss()
        _, (dx, (dw, db)) = ms.value_and_grad(loss, grad_position=0, weights=cell.trainable_params())(ms.Tensor(x))
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)

    tx, tw, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (x, w, b))
    y = torch.nn.functional.conv2d(tx, tw, tb, padding=1)
    (torch.maximum(y[:, :3], y[:, 3:]) * torch.tensor(r, dtype=torch.float64)).sum().backward()
    np.testing.assert_allclose(dx.asnumpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw.asnumpy(), tw.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db.asnumpy(), tb.grad.numpy(), rtol=1e-4, atol=1e-4)
    if tied:  # each half got exactly half of the gradient
        np.testing.assert_allclose(dw.asnumpy()[:3], dw.asnumpy()[3:], rtol=1e-6)
