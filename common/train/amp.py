"""Mixed precision in one place: amp level and loss scaling per device.

Defaults: Ascend O3 with a dynamic loss scale, GPU O2 (dynamic), CPU O0. On CPU fp16
O2/O3 are allowed with a fixed loss scale that never drops updates (MindSpore's
``FixedLossScaleManager(drop_overflow_update=False)``: the only kind it supports there);
a dynamic scale on CPU and bfloat16 on CPU are refused with one clear line.
Margin and softmax math stays float32: amp is applied to the backbone only (``apply``
with ``root``), and the backbone's output is cast back to float32 before the head.
"""
import mindspore as ms
from mindspore import nn, ops
from common.core.errors import FaceIdError

DEFAULT_LEVEL = {"Ascend": "O3", "GPU": "O2", "CPU": "O0"}
DEFAULT_FIXED_SCALE = 1024.0
DEFAULT_DYNAMIC_SCALE = 2.0 ** 16


def resolve(device, level=None, dtype="float16", loss_scale=None):
    """-> (level, loss_scale_value, dynamic). Raises FaceIdError for unsupported combinations.

    ``loss_scale``: None (per device: dynamic on Ascend/GPU, fixed 1024 on CPU), "dynamic", or a number
    (a fixed scale).
    """
    level = str(level) if level else DEFAULT_LEVEL.get(device, "O0")
    if level not in ("O0", "O1", "O2", "O3"):
        raise FaceIdError(f"amp_level must be O0, O1, O2 or O3, got {level!r}")
    if dtype not in ("float16", "bfloat16"):
        raise FaceIdError(f"amp_dtype must be float16 or bfloat16, got {dtype!r}")
    if level == "O0":
        return level, 1.0, False
    if dtype == "bfloat16" and device == "CPU":
        raise FaceIdError(f"amp_dtype bfloat16 (amp_level {level}) is not supported on CPU "
                         "(MindSpore's CPU kernels lack it); use amp_dtype float16 or amp_level O0")
    if loss_scale == "dynamic" and device == "CPU":
        raise FaceIdError("loss_scale dynamic is not supported on CPU (MindSpore allows only a fixed "
                         "scale that never drops updates there); give a number, e.g. --loss_scale 1024")
    if loss_scale in (None, "dynamic") and device != "CPU":
        return level, DEFAULT_DYNAMIC_SCALE, True
    try:
        value = DEFAULT_FIXED_SCALE if loss_scale is None else float(loss_scale)
    except (TypeError, ValueError):
        raise FaceIdError(f"loss_scale must be a positive number or 'dynamic', got {loss_scale!r}") from None
    if not value > 0:
        raise FaceIdError(f"loss_scale must be a positive number or 'dynamic', got {loss_scale!r}")
    return level, value, False


def _find_parent(root, cell):
    for _, parent in root.cells_and_names():
        for key, child in parent._cells.items():  # pylint: disable=protected-access
            if child is cell:
                return parent, key
    return None, None


def apply(cell, level, dtype="float16", root=None):
    """Cast ``cell`` for mixed precision and return the cell to use (no-op at O0).

    MindSpore casts O2/O3 in place but returns a wrapper that casts the output back to float32 (O1 returns a
    rewritten copy). With ``root`` (the network holding ``cell``), that result replaces ``cell`` inside
    ``root``, so the layers after it (margin head, softmax) keep computing in float32. Parameter names
    are unchanged, so checkpoints load either way.
    """
    if level == "O0":
        return cell
    parent, key = (None, None)
    if root is not None:
        if cell is root:
            raise ValueError("amp: apply mixed precision to the backbone inside the network, not to the whole "
                             "network (the loss must stay float32)")
        parent, key = _find_parent(root, cell)
        if parent is None:
            raise ValueError(f"amp: {type(cell).__name__} is not part of {type(root).__name__}")
    new = ms.amp.auto_mixed_precision(cell, level, dtype=getattr(ms, dtype))
    if parent is not None and new is not cell:
        parent._cells[key] = new  # pylint: disable=protected-access
        if isinstance(parent, nn.SequentialCell):
            parent.cell_list = list(parent.cells())
    return new


class _FixedScaleTrainOneStep(nn.TrainOneStepCell):
    """Backward with the loss scaled by ``scale``; gradients divided by it again before the optimizer.

    For optimizers that do not unscale themselves (``optimizer.loss_scale`` differs, e.g. AdamWeightDecay).
    Never drops an update (like FixedLossScaleManager(drop_overflow_update=False)).
    """

    def __init__(self, network, optimizer, scale):
        super().__init__(network, optimizer, sens=scale)
        self.unscale = float(optimizer.loss_scale) / float(scale)
        self.hyper_map = ops.HyperMap()

    def construct(self, *inputs):
        loss = self.network(*inputs)
        sens = ops.fill(loss.dtype, loss.shape, self.sens)
        grads = self.grad(self.network, self.weights)(*inputs, sens)
        grads = self.grad_reducer(grads)
        grads = self.hyper_map(ops.partial(_unscale, self.unscale), grads)
        return ops.depend(loss, self.optimizer(grads))


_unscale = ops.MultitypeFuncGraph("unscale")


@_unscale.register("Number", "Tensor")
def _unscale_tensor(factor, grad):
    return grad * ops.cast(factor, ops.dtype(grad))


def train_network(net_with_loss, optimizer, level, scale, dynamic):
    """One-step training cell: plain, or with a fixed / dynamic loss scale."""
    if level == "O0" or (scale == 1.0 and not dynamic):
        return nn.TrainOneStepCell(net_with_loss, optimizer)
    if dynamic:
        manager = ms.amp.DynamicLossScaleManager(scale, 2, 1000)
        return nn.TrainOneStepWithLossScaleCell(net_with_loss, optimizer, manager.get_update_cell())
    if float(getattr(optimizer, "loss_scale", 1.0)) == float(scale):
        # the optimizer (built with loss_scale=scale) divides the gradients back: MindSpore's own recipe
        return nn.TrainOneStepCell(net_with_loss, optimizer, sens=scale)
    return _FixedScaleTrainOneStep(net_with_loss, optimizer, scale)
