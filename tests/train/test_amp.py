"""Mixed precision: per-device defaults, refusals, float32 head after an fp16 backbone, loss-scale maths, fp16 steps."""
import os

import mindspore as ms
import numpy as np
import pytest

from common.core.errors import FaceIdError
from mindspore import Tensor, nn

from common.train import amp
from common.heads.margin import MarginHead
from common.train.checkpoint import CheckpointManager, read
from tests.helpers import PY, ROOT, lightcnn_tiny_args, make_data, run


@pytest.mark.parametrize("device, level, loss_scale, expected", [
    ("Ascend", None, None, ("O3", 2.0 ** 16, True)),
    ("GPU", None, None, ("O2", 2.0 ** 16, True)),
    ("CPU", None, None, ("O0", 1.0, False)),
    ("CPU", "O2", None, ("O2", 1024.0, False)),
    ("CPU", "O3", 128, ("O3", 128.0, False)),
    ("GPU", "O2", "256", ("O2", 256.0, False)),
    ("Ascend", "O3", "dynamic", ("O3", 2.0 ** 16, True)),
    ("CPU", "O3", "dynamic", ("O3", 2.0 ** 16, True)),  # amp.DynamicScaleStep runs on every device
])
def test_resolve_per_device(device, level, loss_scale, expected):
    assert amp.resolve(device, level, "float16", loss_scale) == expected


@pytest.mark.parametrize("args, words", [
    (("CPU", "O2", "bfloat16", None), ["bfloat16", "not supported on CPU"]),
    (("GPU", "O4", "float16", None), ["amp_level"]),
    (("GPU", "O2", "float8", None), ["amp_dtype"]),
    (("CPU", "O2", "float16", "-1"), ["loss_scale"]),
    (("CPU", "O2", "float16", "big"), ["loss_scale"]),
])
def test_resolve_refuses(args, words):
    with pytest.raises(FaceIdError) as exc:
        amp.resolve(*args)
    msg = str(exc.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_bfloat16_allowed_at_o0_on_cpu():
    assert amp.resolve("CPU", "O0", "bfloat16") == ("O0", 1.0, False)


class _Backbone(nn.Cell):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, pad_mode="same", has_bias=True)
        self.fc = nn.Dense(4 * 8 * 8, 16)
        self.flatten = nn.Flatten()

    def construct(self, x):
        return self.fc(self.flatten(ops_relu(self.conv(x))))


def ops_relu(x):
    return ms.ops.relu(x)


class _Classifier(nn.Cell):
    def __init__(self, num_classes=5):
        super().__init__()
        self.backbone = _Backbone()
        self.head = MarginHead.cosface(16, num_classes)

    def construct(self, x, label):
        return self.head(self.backbone(x), label)


@pytest.mark.parametrize("level", ["O2", "O3"])
def test_fp16_backbone_keeps_head_float32(level):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_seed(1)
    net = _Classifier()
    x = Tensor(np.random.default_rng(0).normal(size=(4, 1, 8, 8)).astype(np.float32))
    y = Tensor(np.array([0, 1, 2, 3], np.int32))
    ref = net(x, y).asnumpy()
    names = [p.name for p in net.get_parameters()]
    new = amp.apply(net.backbone, level, "float16", root=net)
    assert net.backbone is new and new is not None
    assert [p.name for p in net.get_parameters()] == names  # checkpoints keep their names
    assert all(p.dtype == ms.float32 for p in net.get_parameters())
    emb = net.backbone(x)
    logits = net(x, y)
    assert emb.dtype == ms.float32 and logits.dtype == ms.float32
    diff = np.abs(logits.asnumpy() - ref).max()
    assert 0 < diff < 0.05 * np.abs(ref).max()  # fp16 inside the backbone (not bit-equal), close to fp32


def test_apply_refuses_whole_network_and_foreign_cells():
    net = _Classifier()
    with pytest.raises(ValueError, match="backbone inside the network"):
        amp.apply(net, "O3", root=net)
    with pytest.raises(ValueError, match="not part of"):
        amp.apply(_Backbone(), "O3", root=net)
    assert amp.apply(net.backbone, "O0", root=net) is net.backbone


def _linear_problem():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    t = rng.normal(size=(8, 2)).astype(np.float32)
    w = rng.normal(size=(2, 3)).astype(np.float32)
    b = rng.normal(size=(2,)).astype(np.float32)
    return x, t, w, b


def _dense(w, b):
    d = nn.Dense(3, 2)
    d.weight.set_data(Tensor(w))
    d.bias.set_data(Tensor(b))
    return d


@pytest.mark.parametrize("scale", [1.0, 1024.0])
def test_fixed_loss_scale_sgd_step_matches_numpy(scale):
    ms.set_context(mode=ms.GRAPH_MODE)
    x, t, w, b = _linear_problem()
    net = _dense(w, b)
    lr = 0.1
    opt = nn.Momentum(net.trainable_params(), lr, 0.9, loss_scale=scale)
    step = amp.train_network(nn.WithLossCell(net, nn.MSELoss()), opt, "O2", scale, False)
    step(Tensor(x), Tensor(t))
    # numpy: loss = mean((xW^T + b - t)^2) over all N*2 entries
    r = x @ w.T + b - t
    g_w = 2 * r.T @ x / r.size
    g_b = 2 * r.sum(0) / r.size
    np.testing.assert_allclose(net.weight.asnumpy(), w - lr * g_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.bias.asnumpy(), b - lr * g_b, rtol=1e-5, atol=1e-6)


def test_fixed_loss_scale_is_undone_for_optimizers_without_loss_scale():
    """AdamWeightDecay has no loss_scale argument: the gradients must be divided by the scale for it."""
    ms.set_context(mode=ms.GRAPH_MODE)
    x, t, w, b = _linear_problem()
    results = []
    for scale in (1.0, 1024.0):
        net = _dense(w, b)
        opt = nn.AdamWeightDecay(net.trainable_params(), 0.01, eps=1.0)  # large eps: the update sees |g|
        step = amp.train_network(nn.WithLossCell(net, nn.MSELoss()), opt, "O3", scale, False)
        for _ in range(2):
            step(Tensor(x), Tensor(t))
        results.append(net.weight.asnumpy())
    assert not np.allclose(results[0], w)
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-7)


def _train(out, train_root, level, lr):
    """lightcnn/train.py in its own process (a process can select its device only once)."""
    run([PY, os.path.join(ROOT, "lightcnn", "train.py")] +
        lightcnn_tiny_args(out, train_root, amp_level=level, dropout=0.0, max_steps=2, warmup_epochs=0,
                           batch_size=4, lr=lr, optimizer="sgd", param_groups="[]"))
    log = open(os.path.join(out, "logs", "train_rank0.log")).read()
    losses = [float(line.split("] loss ")[1].split()[0]) for line in log.splitlines() if "] loss " in line]
    ckpt = read(CheckpointManager(os.path.join(out, "ckpt"), "lightcnn9_demo").latest())
    return losses, {k: v.asnumpy() for k, v in ckpt.items() if k.startswith("backbone.")}, ckpt


@pytest.fixture(scope="module")
def fp32_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("amp")
    train, _ = make_data(root, train_ids=4, train_images=4)
    return train, _train(str(root / "init"), train, "O0", 1e-30), _train(str(root / "fp32"), train, "O0", 0.01)


@pytest.mark.parametrize("level", ["O2", "O3"])
def test_fp16_train_steps_on_cpu(fp32_runs, tmp_path, level):
    """LightCNN through lightcnn/train.py, fp16 on CPU: first loss ~ fp32, update ~ the fp32 update, fp32 ckpt."""
    train, (_, w0, _), (loss32, w32, _) = fp32_runs
    loss16, w16, ck16 = _train(str(tmp_path / level), train, level, 0.01)
    assert len(loss16) == 2 and all(np.isfinite(loss16))
    assert abs(loss16[0] - loss32[0]) < 0.02 * abs(loss32[0])  # same weights, same batch: fp16 forward ~ fp32
    assert set(w16) == set(w32) and w16
    assert all(ck16[k].dtype == ms.float32 for k in w16)
    upd32 = np.sqrt(sum(((w32[k] - w0[k]) ** 2).sum() for k in w0))
    upd16 = np.sqrt(sum(((w16[k] - w0[k]) ** 2).sum() for k in w0))
    gap = np.sqrt(sum(((w16[k] - w32[k]) ** 2).sum() for k in w0))
    assert upd32 > 0 and 0.5 < upd16 / upd32 < 2.0, (upd16, upd32)  # the loss scale was undone exactly once
    assert 0 < gap < 0.2 * upd32, (gap, upd32)  # fp16 arithmetic, close to the fp32 step
