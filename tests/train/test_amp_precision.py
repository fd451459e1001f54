"""Mixed precision as the best recipes do it (issue 23, item 3), on the CPU: BatchNorm and the embedding layer in
float32 at O1/O2/O3 (values that overflow fp16 in those layers come out right), the dynamic loss-scale cell (an
injected inf: the step is skipped, the scale halves, grows back after N good steps; good steps = numpy SGD), the
margin head's fp16 GEMM with float32 logits, and where bfloat16 is chosen."""
import math

import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor, nn

from common.heads.margin import MarginHead
from common.train import amp


class _Net(nn.Cell):
    """Dense (identity) -> BatchNorm1d -> Dense (the embedding layer, weights 1e5 * I)."""

    def __init__(self):
        super().__init__()
        self.fc1, self.bn, self.emb = nn.Dense(3, 3), nn.BatchNorm1d(3), nn.Dense(3, 3)
        self.fc1.weight.set_data(Tensor(np.eye(3, dtype=np.float32)))
        self.fc1.bias.set_data(Tensor(np.zeros(3, np.float32)))
        self.emb.weight.set_data(Tensor(np.eye(3, dtype=np.float32) * 1e5))
        self.emb.bias.set_data(Tensor(np.zeros(3, np.float32)))

    def construct(self, x):
        return self.emb(self.bn(self.fc1(x)))


class _Root(nn.Cell):
    def __init__(self):
        super().__init__()
        self.backbone = _Net()

    def construct(self, x):
        return self.backbone(x)


X = np.array([[300, 300, 300], [-300, -300, -300], [0, 0, 0]], np.float32)


def _expected():
    """float64: BatchNorm (batch statistics, eps 1e-5) of 300/-300/0, times 1e5. |x|^2 = 9e4 and 1.2e5 overflow
    fp16 (max 65504): the variance in an fp16 BatchNorm, the output of an fp16 embedding layer."""
    x = X.astype(np.float64)
    return (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5) * 1e5


@pytest.mark.parametrize("level", ["O1", "O2", "O3"])
def test_batchnorm_and_embedding_layer_stay_float32(level):
    ms.set_context(mode=ms.GRAPH_MODE)
    root = _Root()
    root.set_train(True)
    new = amp.apply(root.backbone, level, "float16", root=root)
    assert root.backbone is new
    out = root(Tensor(X)).asnumpy()
    assert out.dtype == np.float32 and np.isfinite(out).all(), out
    np.testing.assert_allclose(out, _expected(), rtol=2e-3, atol=1.0)  # fp16 rounding of the BN output only


def test_plain_o3_overflows_there():
    """The same net under MindSpore's own O3 (BatchNorm and the embedding layer fp16): not finite, so the test
    above can fail."""
    ms.set_context(mode=ms.GRAPH_MODE)
    net = _Net()
    net.set_train(True)
    out = ms.amp.auto_mixed_precision(net, "O3", dtype=ms.float16)(Tensor(X)).asnumpy()
    assert not np.isfinite(out).all()


def _linear():
    rng = np.random.default_rng(11)
    return (rng.normal(size=(6, 3)).astype(np.float32), rng.normal(size=(6, 2)).astype(np.float32),
            rng.normal(size=(2, 3)).astype(np.float32), rng.normal(size=(2,)).astype(np.float32))


def test_dynamic_scale_skips_halves_and_grows_back():
    ms.set_context(mode=ms.GRAPH_MODE)
    x, t, w, b = _linear()
    net = nn.Dense(3, 2)
    net.weight.set_data(Tensor(w))
    net.bias.set_data(Tensor(b))
    lr, window = 0.1, 3
    step = amp.train_network(nn.WithLossCell(net, nn.MSELoss()), nn.SGD(net.trainable_params(), lr), "O2",
                             1024.0, True, window=window)
    assert isinstance(step, amp.DynamicScaleStep)
    bad = x.copy()
    bad[2, 1] = np.inf
    ref_w, ref_b = w.astype(np.float64), b.astype(np.float64)
    scales, flags = [], []
    for k, batch in enumerate([x, bad, x, x, x, x]):
        before = net.weight.asnumpy().copy()
        loss, overflow, scale = step(Tensor(batch), Tensor(t))
        flags.append(bool(overflow.asnumpy()))
        scales.append(float(scale.asnumpy()))
        if k == 1:  # the injected inf: no update at all
            np.testing.assert_array_equal(net.weight.asnumpy(), before)
            assert not math.isfinite(float(loss.asnumpy()))
            continue
        r = x @ ref_w.T + ref_b - t  # numpy: MSE over all N*2 entries, plain SGD on the unscaled gradient
        ref_w, ref_b = ref_w - lr * 2 * r.T @ x / r.size, ref_b - lr * 2 * r.sum(0) / r.size
        np.testing.assert_allclose(net.weight.asnumpy(), ref_w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(net.bias.asnumpy(), ref_b, rtol=1e-5, atol=1e-6)
    assert flags == [False, True, False, False, False, False]
    # 1024, halved on the overflow, doubled after `window` good steps in a row (steps 3, 4, 5)
    assert scales == [1024.0, 512.0, 512.0, 512.0, 1024.0, 1024.0]
    assert int(step.overflows.asnumpy()) == 1


def test_head_gemm_in_fp16_gives_float32_logits():
    ms.set_context(mode=ms.GRAPH_MODE)
    rng = np.random.default_rng(2)
    emb, y = Tensor(rng.normal(size=(8, 16)).astype(np.float32)), Tensor(rng.integers(0, 10, 8).astype(np.int32))
    head = MarginHead.cosface(16, 10)
    ref = head(emb, y).asnumpy()

    class Holder(nn.Cell):
        def __init__(self):
            super().__init__()
            self.head = head

        def construct(self, e, label):
            return self.head(e, label)

    holder = Holder()
    assert amp.set_head_fp16(holder) == 1 and head.gemm_fp16
    got = holder(emb, y)
    assert got.dtype == ms.float32
    diff = np.abs(got.asnumpy() - ref).max()
    assert 0 < diff < 32.0 * 2e-3, diff  # s * (fp16 rounding of a cosine); not bit-equal: it ran in fp16


@pytest.mark.parametrize("device, answer, expected", [
    ("GPU", "8.0\n9.0\n", True), ("GPU", "7.5\n", False), ("GPU", "", False),
    ("Ascend", "| 0  910B3 | OK |", True), ("Ascend", "| 0  910A | OK |", False), ("CPU", "9.0", False),
])
def test_bfloat16_where_the_device_has_it(device, answer, expected):
    assert amp.device_has_bf16(device, run=lambda cmd: answer) is expected
    assert amp.resolve_dtype(device, "auto", run=lambda cmd: answer) == ("bfloat16" if expected else "float16")
    assert amp.resolve_dtype(device, "float16", run=lambda cmd: answer) == "float16"


def test_bfloat16_needs_no_loss_scale():
    assert amp.resolve("GPU", "O2", "bfloat16", None) == ("O2", 1.0, False)
    assert amp.resolve("GPU", "O2", "float16", None) == ("O2", 2.0 ** 16, True)
    assert amp.resolve("CPU", "O2", "auto", None) == ("O2", 1024.0, False)  # auto -> float16 on the CPU


class _Tail(nn.Cell):
    """Dense to 2C, then the max of the halves (LightCNN's MFM): ops after the embedding Dense."""

    def __init__(self):
        super().__init__()
        self.filter = nn.Dense(4 * 6 * 6, 8)

    def construct(self, x):
        a, b = ms.ops.split(self.filter(x), 4, axis=1)
        return ms.ops.maximum(a, b)


class _ConvNet(nn.Cell):
    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.act = nn.Conv2d(1, 4, 3, pad_mode="same"), nn.BatchNorm2d(4), nn.ReLU()
        self.flatten, self.fc = nn.Flatten(), _Tail()

    def construct(self, x):
        return self.fc(self.flatten(self.act(self.bn(self.conv(x)))))


class _Loss(nn.Cell):
    def __init__(self):
        super().__init__()
        self.backbone = _ConvNet()

    def construct(self, x, t):
        return ((self.backbone(x) - t) ** 2).mean()


@pytest.mark.parametrize("level", ["O1", "O2", "O3"])
def test_mixed_precision_step_trains_like_float32(level):
    """The float32 BatchNorm and tail (input cast up, output cast back) compile a backward too: one SGD step at
    each level moves the weights as the float32 step does, within fp16 rounding."""
    ms.set_context(mode=ms.GRAPH_MODE)
    rng = np.random.default_rng(5)
    x, t = Tensor(rng.normal(size=(4, 1, 6, 6)).astype(np.float32)), Tensor(rng.normal(size=(4, 4)).astype(np.float32))
    updates = []
    for lvl in ("O0", level):
        ms.set_seed(3)
        net = _Loss()
        w0 = {p.name: p.asnumpy().copy() for p in net.trainable_params()}
        if lvl != "O0":
            amp.apply(net.backbone, lvl, "float16", root=net)
        assert sorted(w0) == sorted(p.name for p in net.trainable_params())
        scale = 1.0 if lvl == "O0" else 64.0
        step = amp.train_network(net, nn.SGD(net.trainable_params(), 0.1, loss_scale=scale), lvl, scale, False)
        step.set_train(True)
        assert np.isfinite(float(step(x, t).asnumpy()))
        updates.append({p.name: p.asnumpy() - w0[p.name] for p in net.trainable_params()})
    for name, ref in updates[0].items():
        assert np.linalg.norm(updates[1][name] - ref) <= 0.02 * np.linalg.norm(ref) + 1e-6, name
