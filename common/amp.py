"""Mixed precision in one place: amp level and loss scaling per device.

Defaults: Ascend O3 with a dynamic loss scale, GPU O2 (dynamic), CPU O0. On CPU fp16
O2/O3 are allowed with a fixed loss scale that never drops updates
(``FixedLossScaleManager(drop_overflow_update=False)``: the only kind MindSpore supports
there). bfloat16 is refused on CPU (MindSpore's CPU kernels lack it). Margin and softmax
math stays float32: amp is applied to the backbone only, whose output is cast back.
"""
import mindspore as ms

DEFAULT_LEVEL = {"Ascend": "O3", "GPU": "O2", "CPU": "O0"}


def resolve(device, level=None, dtype="float16", loss_scale=None):
    """-> (level, loss_scale_value, dynamic). Raises SystemExit for unsupported combinations."""
    level = level or DEFAULT_LEVEL.get(device, "O0")
    if level not in ("O0", "O1", "O2", "O3"):
        raise SystemExit(f"error: amp_level must be O0, O1, O2 or O3, got {level!r}")
    if dtype not in ("float16", "bfloat16"):
        raise SystemExit(f"error: amp_dtype must be float16 or bfloat16, got {dtype!r}")
    if dtype == "bfloat16" and device == "CPU" and level != "O0":
        raise SystemExit("error: bfloat16 mixed precision is not supported on CPU "
                         "(MindSpore's CPU kernels lack it); use amp_dtype float16 or amp_level O0")
    if level == "O0":
        return level, 1.0, False
    dynamic = device != "CPU" and loss_scale in (None, "dynamic")
    value = 2.0 ** 16 if dynamic else float(loss_scale if loss_scale not in (None, "dynamic") else 1024.0)
    return level, value, dynamic


def apply(cell, level, dtype="float16"):
    """Cast ``cell`` for mixed precision (no-op at O0)."""
    if level == "O0":
        return cell
    return ms.amp.auto_mixed_precision(cell, level, dtype=getattr(ms, dtype))


def train_network(net_with_loss, optimizer, level, scale, dynamic):
    """One-step training cell: plain, or with a fixed / dynamic loss scale."""
    from mindspore import nn

    if level == "O0" or scale == 1.0 and not dynamic:
        return nn.TrainOneStepCell(net_with_loss, optimizer)
    if dynamic:
        manager = ms.amp.DynamicLossScaleManager(scale, 2, 1000)
        return nn.TrainOneStepWithLossScaleCell(net_with_loss, optimizer, manager.get_update_cell())
    # fixed scale, never dropping an update: the gradient is scaled by `scale` and the optimizer
    # (built with loss_scale=scale) divides it back.
    return nn.TrainOneStepCell(net_with_loss, optimizer, sens=scale)
