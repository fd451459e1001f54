"""Mixed precision in one place: amp level and loss scaling per device.

Defaults: Ascend O3 with a dynamic loss scale, GPU O2 (dynamic), CPU O0. On CPU fp16 O2/O3 default to a fixed
loss scale of 1024 that never drops updates; ``loss_scale: dynamic`` works on every device (``DynamicScaleStep``:
finite check of the reduced gradients, the overflow flag all-reduced over the ranks, the step skipped on
overflow, the scale halved, and doubled again after ``loss_scale_window`` good steps). bfloat16 on CPU is
refused with one clear line; ``amp_dtype: auto`` is bfloat16 where the device has it (GPU compute capability
>= 8.0, Ascend 910B/910C), else float16; bfloat16 needs no loss scale (its range is float32's).

As the best recipes do it (insightface arcface_torch: autocast with BatchNorm and the embedding layer in fp32):
at every level BatchNorm layers and the embedding layer (the backbone's last ``nn.Dense``, with whatever follows it
up to the backbone's output) compute in float32; O1 here is convolutions and the other Dense layers in fp16. Margin and softmax math stays float32: amp is applied
to the backbone only (``apply`` with ``root``), and the backbone's output is cast back to float32 before the
head. ``head_fp16`` (``set_head_fp16``): the margin head's cosine GEMM in fp16 with float32 logits (arcface_torch's
Partial FC under autocast).
"""
import mindspore as ms
from mindspore import Parameter, Tensor, nn, ops
from mindspore import dtype as mstype
from common.core.errors import FaceIdError

DEFAULT_LEVEL = {"Ascend": "O3", "GPU": "O2", "CPU": "O0"}
DEFAULT_FIXED_SCALE = 1024.0
DEFAULT_DYNAMIC_SCALE = 2.0 ** 16


def device_has_bf16(device, run=None):
    """True where ``device`` computes in bfloat16: a GPU of compute capability >= 8.0 (``nvidia-smi``), an
    Ascend 910B/910C (``npu-smi info``); never the CPU (MindSpore's CPU kernels lack it)."""
    import subprocess

    def ask(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    run = run or ask
    if device == "GPU":
        caps = [line.strip() for line in run(["nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader"])
                .splitlines() if line.strip()]
        try:
            return bool(caps) and min(float(c) for c in caps) >= 8.0
        except ValueError:
            return False
    if device == "Ascend":
        text = run(["npu-smi", "info"])
        return any(k in text for k in ("910B", "910_93", "910C"))
    return False


def resolve_dtype(device, dtype, run=None):
    """``amp_dtype`` as given, or for ``auto``/None: bfloat16 where the device has it, else float16."""
    if dtype in (None, "auto"):
        return "bfloat16" if device_has_bf16(device, run) else "float16"
    return dtype


def resolve(device, level=None, dtype="float16", loss_scale=None):
    """-> (level, loss_scale_value, dynamic). Raises FaceIdError for unsupported combinations.

    ``loss_scale``: None (per device: dynamic on Ascend/GPU, fixed 1024 on CPU; none for bfloat16), "dynamic",
    or a number (a fixed scale). ``dtype``: float16, bfloat16, or auto/None (``resolve_dtype``).
    """
    level = str(level) if level else DEFAULT_LEVEL.get(device, "O0")
    if level not in ("O0", "O1", "O2", "O3"):
        raise FaceIdError(f"amp_level must be O0, O1, O2 or O3, got {level!r}")
    if dtype not in ("float16", "bfloat16", "auto", None):
        raise FaceIdError(f"amp_dtype must be float16, bfloat16 or auto, got {dtype!r}")
    if level != "O0":
        dtype = resolve_dtype(device, dtype)
    if level == "O0":
        return level, 1.0, False
    if dtype == "bfloat16" and device == "CPU":
        raise FaceIdError(f"amp_dtype bfloat16 (amp_level {level}) is not supported on CPU "
                         "(MindSpore's CPU kernels lack it); use amp_dtype float16 or amp_level O0")
    if loss_scale == "dynamic" or (loss_scale is None and device != "CPU" and dtype == "float16"):
        return level, DEFAULT_DYNAMIC_SCALE, True
    if loss_scale is None and dtype == "bfloat16":
        return level, 1.0, False
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


FP16_CELLS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Conv2dTranspose, nn.Dense)  # O1: these in fp16
BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def embedding_layer(cell):
    """The embedding layer of a backbone: its last ``nn.Dense`` (None if it has none)."""
    last = None
    for _, child in cell.cells_and_names():
        if isinstance(child, nn.Dense):
            last = child
    return last


class _Float32Out(nn.Cell):
    """``cell``'s output cast to float32 (parameter names unchanged)."""

    def __init__(self, cell):
        super().__init__(auto_prefix=False)
        self.cell = cell

    def construct(self, *inputs):
        out = self.cell(*inputs)
        return out.astype(mstype.float32)


class _Float32(nn.Cell):
    """``cell`` (one input) in float32 inside a lower-precision region: its input cast up, its output cast back to
    the input's dtype (explicit casts: MindSpore 2.10 compiles no backward for a float32 cell's output feeding an
    fp16 cell directly)."""

    def __init__(self, cell):
        super().__init__(auto_prefix=False)
        self.cell = cell
        cell.to_float(mstype.float32)

    def construct(self, x):
        return self.cell(x.astype(mstype.float32)).astype(x.dtype)


def _replace(root, old, new):
    parent, key = _find_parent(root, old)
    if parent is None:
        return False
    parent._cells[key] = new  # pylint: disable=protected-access
    if isinstance(parent, nn.SequentialCell):
        parent.cell_list = list(parent.cells())
    return True


def keep_float32(backbone):
    """BatchNorm layers of ``backbone`` in float32 (each wrapped in ``_Float32``), and its embedding layer with
    everything after it (the direct children of ``backbone`` from the one holding the last ``nn.Dense`` on) in
    float32 up to the output. Returns the cells kept in float32."""
    kept = []
    for bn in [c for _, c in backbone.cells_and_names() if isinstance(c, BATCHNORMS)]:
        parent, _ = _find_parent(backbone, bn)
        if isinstance(parent, _Float32) or type(parent).__name__ == "_OutputTo16":  # already (MindSpore's O2)
            bn.to_float(mstype.float32)
        else:
            _replace(backbone, bn, _Float32(bn))
        kept.append(bn)
    emb = embedding_layer(backbone)
    if emb is not None:
        children = list(backbone.cells())
        holder = next((i for i, c in enumerate(children)
                       if c is emb or any(x is emb for _, x in c.cells_and_names())), None)
        for c in children[holder:] if holder is not None else [emb]:
            c.to_float(mstype.float32)
            kept.append(c)
    return kept


def apply(cell, level, dtype="float16", root=None):
    """Cast ``cell`` for mixed precision and return the cell to use (no-op at O0).

    O2/O3: MindSpore's ``auto_mixed_precision`` (in place, plus a wrapper that casts the output back to float32);
    O1: convolutions and Dense layers in ``dtype`` (in place, the same float32-output wrapper). At every level
    BatchNorm and the embedding layer then compute in float32 (``keep_float32``). With ``root`` (the network
    holding ``cell``), the result replaces ``cell`` inside ``root``, so the layers after it (margin head,
    softmax) keep computing in float32. Parameter names are unchanged, so checkpoints load either way.
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
    if level == "O1":
        for _, child in cell.cells_and_names():
            if isinstance(child, FP16_CELLS):
                child.to_float(getattr(ms, dtype))
        new = _Float32Out(cell)
    else:
        new = ms.amp.auto_mixed_precision(cell, level, dtype=getattr(ms, dtype))
    keep_float32(cell)
    if parent is not None and new is not cell:
        parent._cells[key] = new  # pylint: disable=protected-access
        if isinstance(parent, nn.SequentialCell):
            parent.cell_list = list(parent.cells())
    return new


def set_head_fp16(net, on=True):
    """The cosine GEMM of every margin head in ``net`` (replicated or Partial FC) in fp16, logits float32;
    returns how many heads were set."""
    n = 0
    for _, c in net.cells_and_names():
        if hasattr(c, "margin_logits") and hasattr(c, "gemm_fp16"):
            c.gemm_fp16 = bool(on)
            n += 1
    return n


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


class DynamicScaleStep(nn.TrainOneStepCell):
    """One training step with a dynamic loss scale, on every device (CPU included).

    Backward of ``loss * scale``; the (data-parallel reduced) gradients are divided by ``scale``; their finite
    check gives an overflow flag that is all-reduced over the ranks (a Partial FC shard's gradient is each
    rank's own, so the ranks could disagree otherwise). On overflow the optimizer step is skipped, the scale is
    divided by ``factor`` (not below ``min_scale``) and the good-step count restarts; after ``window`` good steps
    in a row the scale is multiplied by ``factor``. ``construct`` -> (loss, overflow flag, scale) like MindSpore's
    ``TrainOneStepWithLossScaleCell``; ``overflows`` counts the skipped steps (read it at log boundaries).
    """

    def __init__(self, network, optimizer, scale=DEFAULT_DYNAMIC_SCALE, factor=2.0, window=1000, min_scale=1.0):
        super().__init__(network, optimizer)
        self.hyper_map = ops.HyperMap()
        self.scale = Parameter(Tensor(float(scale), mstype.float32), name="loss_scale", requires_grad=False)
        self.good = Parameter(Tensor(0, mstype.int32), name="loss_scale_good_steps", requires_grad=False)
        self.overflows = Parameter(Tensor(0, mstype.int32), name="loss_scale_overflows", requires_grad=False)
        self.factor, self.window, self.min_scale = float(factor), int(window), float(min_scale)
        self.flag_reduce = ops.AllReduce() if self.reducer_flag else None

    def construct(self, *inputs):
        loss = self.network(*inputs)
        scale = self.scale * 1.0
        sens = ops.fill(loss.dtype, loss.shape, 1.0) * scale.astype(loss.dtype)
        grads = self.grad(self.network, self.weights)(*inputs, sens)
        grads = self.grad_reducer(grads)
        grads = self.hyper_map(ops.partial(_divide, scale), grads)
        bad = ops.zeros((), mstype.float32)
        for g in grads:
            bad = bad + (1.0 - ops.isfinite(g).all().astype(mstype.float32))
        if self.flag_reduce is not None:
            bad = self.flag_reduce(bad)
        overflow = bad > 0.5
        if overflow:
            ops.assign(self.scale, ops.maximum(scale / self.factor, self.min_scale))
            ops.assign(self.good, ops.zeros_like(self.good))
            ops.assign_add(self.overflows, ops.ones_like(self.overflows))
        else:
            loss = ops.depend(loss, self.optimizer(grads))
            good = self.good + 1
            if good >= self.window:
                ops.assign(self.scale, scale * self.factor)
                good = good * 0
            ops.assign(self.good, good)
        return loss, overflow, self.scale * 1.0


_divide = ops.MultitypeFuncGraph("divide")


@_divide.register("Tensor", "Tensor")
def _divide_tensor(scale, grad):
    return grad / scale.astype(ops.dtype(grad))


def train_network(net_with_loss, optimizer, level, scale, dynamic, window=1000):
    """One-step training cell: plain, or with a fixed / dynamic loss scale (``DynamicScaleStep``)."""
    if dynamic:
        return DynamicScaleStep(net_with_loss, optimizer, scale, 2.0, window)
    if level == "O0" or scale == 1.0:
        return nn.TrainOneStepCell(net_with_loss, optimizer)
    if float(getattr(optimizer, "loss_scale", 1.0)) == float(scale):
        # the optimizer (built with loss_scale=scale) divides the gradients back: MindSpore's own recipe
        return nn.TrainOneStepCell(net_with_loss, optimizer, sens=scale)
    return _FixedScaleTrainOneStep(net_with_loss, optimizer, scale)
