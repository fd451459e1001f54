"""MarginHead against numpy formulas (incl. theta near 0 and pi), monotonic extension, fp16 input, gradients."""
import math

import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor, nn

from common.heads.margin import HEADS, MarginHead, create_head
from common.core.env import set_device  # noqa: E402

set_device("CPU")
D, C = 8, 5


def np_logits(emb, weight, label, s, m1, m2, m3):
    """Reference: s*cos elsewhere; target s*(cos(m1*t+m2)-m3), or s*(cos t - (1+cos t_T) - m3) past t_T."""
    x = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    w = weight / np.linalg.norm(weight, axis=1, keepdims=True)
    cos = x @ w.T
    out = s * cos
    t_t = min((math.pi - m2) / m1, math.pi)
    for i, y in enumerate(label):
        t = math.acos(min(max(cos[i, y], -1 + 1e-6), 1 - 1e-6))
        value = math.cos(m1 * t + m2) if t <= t_t else math.cos(t) - (1 + math.cos(t_t))
        out[i, y] = s * (value - m3)
    return out


def make_inputs(rng, weight):
    """Random embeddings plus ones aligned (theta ~ 0) and anti-aligned (theta ~ pi) with their centre."""
    label = np.array([0, 1, 2, 3, 4, 0, 1, 2])
    emb = rng.standard_normal((8, D)) * 3.0
    emb[5] = weight[0] * 7 + 1e-4 * rng.standard_normal(D)        # theta ~ 0
    emb[6] = -weight[1] * 2 + 1e-3 * rng.standard_normal(D)       # theta ~ pi
    emb[7] = -weight[2] + 0.3 * rng.standard_normal(D)            # theta > pi - m
    return emb.astype(np.float32), label


def run_head(head, emb, label):
    return head(Tensor(emb), Tensor(label.astype(np.int32))).asnumpy()


@pytest.mark.parametrize("s,m1,m2,m3", [(64.0, 1.0, 0.5, 0.0), (32.0, 1.0, 0.0, 0.40), (30.0, 1.0, 0.0, 0.0),
                                        (16.0, 4.0, 0.0, 0.0), (64.0, 1.0, 0.3, 0.2)])
def test_matches_numpy_formula(s, m1, m2, m3):
    rng = np.random.default_rng(1)
    head = MarginHead(D, C, s=s, m1=m1, m2=m2, m3=m3)
    weight = rng.standard_normal((C, D)).astype(np.float32)
    head.weight.set_data(Tensor(weight))
    emb, label = make_inputs(rng, weight)
    got = run_head(head, emb, label)
    assert got.dtype == np.float32 and got.shape == (8, C)
    want = np_logits(emb.astype(np.float64), weight.astype(np.float64), label, s, m1, m2, m3)
    np.testing.assert_allclose(got, want, atol=2e-3 * s, rtol=1e-4)


def test_arcface_equals_angle_addition_identity():
    """Where theta + m <= pi, cos(theta + m) = cos*cos(m) - sin*sin(m) (independent of arccos)."""
    rng = np.random.default_rng(2)
    head = MarginHead.arcface(D, C)
    weight = rng.standard_normal((C, D)).astype(np.float32)
    head.weight.set_data(Tensor(weight))
    emb = rng.standard_normal((16, D)).astype(np.float32)
    label = rng.integers(0, C, 16)
    got = run_head(head, emb, label)
    xn = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    wn = weight / np.linalg.norm(weight, axis=1, keepdims=True)
    cos = (xn @ wn.T)[np.arange(16), label]
    ok = cos > math.cos(math.pi - 0.5)
    assert ok.sum() >= 10
    want = 64 * (cos * math.cos(0.5) - np.sqrt(1 - cos ** 2) * math.sin(0.5))
    np.testing.assert_allclose(got[np.arange(16), label][ok], want[ok], atol=1e-3)
    off = np.ones((16, C), bool)
    off[np.arange(16), label] = False
    np.testing.assert_allclose(got[off], 64 * (xn @ wn.T)[off], atol=1e-4)


@pytest.mark.parametrize("m1,m2", [(1.0, 0.5), (4.0, 0.0), (2.0, 0.3)])
def test_target_logit_continuous_and_decreasing_in_theta(m1, m2):
    theta = np.linspace(0.01, math.pi - 0.01, 400)
    emb = np.zeros((theta.size, D), np.float32)
    emb[:, 0], emb[:, 1] = np.cos(theta), np.sin(theta)
    head = MarginHead(D, 1, s=1.0, m1=m1, m2=m2)
    head.weight.set_data(Tensor(np.eye(1, D, dtype=np.float32)))
    target = run_head(head, emb, np.zeros(theta.size, np.int64))[:, 0]
    step = np.diff(target)
    assert (step < 0).all()
    assert np.abs(step).max() < 0.05  # no jump at theta_t
    assert abs(target[0] - math.cos(m1 * 0.01 + m2)) < 1e-4


def test_fp16_embedding_gives_float32_logits():
    rng = np.random.default_rng(3)
    head = MarginHead.cosface(D, C)
    emb = rng.standard_normal((4, D)).astype(np.float32)
    label = np.array([0, 1, 2, 3], np.int32)
    half = head(Tensor(emb.astype(np.float16)), Tensor(label)).asnumpy()
    full = head(Tensor(emb), Tensor(label)).asnumpy()
    assert half.dtype == np.float32
    np.testing.assert_allclose(half, full, atol=32 * 2e-3)


def test_gradients_finite_and_match_finite_differences():
    rng = np.random.default_rng(4)
    s, m2 = 8.0, 0.5
    head = MarginHead(D, C, s=s, m2=m2)
    weight = rng.standard_normal((C, D)).astype(np.float32)
    head.weight.set_data(Tensor(weight))
    emb, label = make_inputs(rng, weight)
    ce = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")

    def loss_fn(e):
        return ce(head(e, Tensor(label.astype(np.int32))), Tensor(label.astype(np.int32)))

    grad_fn = ms.value_and_grad(loss_fn, grad_position=0, weights=head.trainable_params())
    loss, (g_emb, (g_w,)) = grad_fn(Tensor(emb))
    g_emb, g_w = g_emb.asnumpy(), g_w.asnumpy()
    assert np.isfinite(loss.asnumpy()) and np.isfinite(g_emb).all() and np.isfinite(g_w).all()
    assert np.abs(g_w).sum() > 0

    def np_loss(e):
        z = np_logits(e, weight.astype(np.float64), label, s, 1.0, m2, 0.0)
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(label)), label]))

    e64, h = emb.astype(np.float64), 1e-4
    for i, j in [(0, 0), (3, 2), (7, 5)]:  # random row and the row with theta > pi - m
        plus, minus = e64.copy(), e64.copy()
        plus[i, j] += h
        minus[i, j] -= h
        fd = (np_loss(plus) - np_loss(minus)) / (2 * h)
        assert abs(g_emb[i, j] - fd) < 2e-3 + 1e-2 * abs(fd)


def test_presets_registry_and_bad_margins():
    assert set(HEADS.names()) == {"arcface", "cosface", "margin", "softmax", "linear"}
    head = create_head("cosface", 16, 10)
    assert (head.s, head.m1, head.m2, head.m3) == (32.0, 1.0, 0.0, 0.40)
    assert head.weight.shape == (10, 16) and abs(float(head.weight.asnumpy().std()) - 0.01) < 0.003
    arc = create_head("arcface", 16, 10)
    assert (arc.s, arc.m2, arc.m3) == (64.0, 0.5, 0.0)
    assert create_head("softmax", 16, 10, s=30.0).s == 30.0
    with pytest.raises(ValueError, match="m1 > 0"):
        MarginHead(4, 3, m1=0.0)
    with pytest.raises(KeyError, match="unknown head"):
        create_head("sphereface", 4, 3)
