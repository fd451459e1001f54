"""common.nets.prelu.PReLU: forward and gradients (input and slope) equal PyTorch's PReLU in both modes."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor, nn

from common.core.env import set_device
from common.nets.prelu import PReLU

set_device("CPU")
torch = pytest.importorskip("torch", reason="PyTorch is the independent reference for PReLU's gradients")


class _Loss(nn.Cell):
    """sum(PReLU(x) * r): its gradient w.r.t. PReLU's output is r, a random tensor."""

    def __init__(self, act, r):
        super().__init__()
        self.act, self.r = act, r

    def construct(self, x):
        return (self.act(x) * self.r).sum()


def _torch_reference(x, w, r):
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    tw = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    y = torch.nn.functional.prelu(tx, tw)
    (y * torch.tensor(r, dtype=torch.float64)).sum().backward()
    return y.detach().numpy(), tx.grad.numpy(), tw.grad.numpy()


def _inputs(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    x.reshape(-1)[::7] = 0.0  # the kink: x == 0 takes the slope side in both
    w = rng.uniform(-0.5, 1.0, shape[1]).astype(np.float32)
    r = rng.standard_normal(shape).astype(np.float32)
    return x, w, r


@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, ms.GRAPH_MODE])
@pytest.mark.parametrize("shape", [(3, 5, 6, 7), (4, 9)])
def test_training_forward_and_gradients_equal_torch(mode, shape):
    ms.set_context(mode=mode)
    try:
        x, w, r = _inputs(shape, seed=len(shape) + mode)
        act = PReLU(shape[1])
        act.w.set_data(Tensor(w))
        act.set_train(True)
        loss = _Loss(act, Tensor(r))
        grad = ms.value_and_grad(loss, grad_position=0, weights=act.trainable_params())
        _, (dx, (dw,)) = grad(Tensor(x))
        y = act(Tensor(x)).asnumpy()
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)
    ty, tdx, tdw = _torch_reference(x, w, r)
    np.testing.assert_allclose(y, ty, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dx.asnumpy(), tdx, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dw.asnumpy(), tdw, rtol=1e-5, atol=1e-5)


def test_inference_uses_the_same_values_and_parameters_as_nn_prelu():
    x, w, _ = _inputs((2, 4, 5, 5), seed=3)
    ours, stock = PReLU(4), nn.PReLU(4)
    for cell in (ours, stock):
        cell.w.set_data(Tensor(w))
        cell.set_train(False)
    np.testing.assert_array_equal(ours(Tensor(x)).asnumpy(), stock(Tensor(x)).asnumpy())
    # checkpoints of nets built with nn.PReLU load unchanged
    assert [(p.name, p.shape) for p in ours.get_parameters()] == [(p.name, p.shape) for p in stock.get_parameters()]
    assert float(PReLU(3, w=0.0).w.asnumpy().max()) == 0.0
