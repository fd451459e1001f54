"""Map a source network onto a zoo network layer by layer, in execution order.

Both sides become a sequence of parametric layers: ``conv``, ``bn``, ``prelu``, ``dense``. The source side
comes from a PyTorch state_dict (modules in registration order) or an ONNX graph (nodes in topological order);
the zoo side from the MindSpore cell tree (cells in definition order, which the zoo's nets keep equal to their
execution order). Walking both together, every shape must agree. Two source forms are absorbed:

* a conv/dense with a bias where the zoo has conv/dense + BatchNorm (BatchNorm folded in at export, as
  ``torch.onnx.export`` does in eval mode): the zoo BN becomes the identity plus that bias
  (gamma 1, beta = bias, mean 0, var 1 - eps), which gives the same outputs;
* a BatchNorm whose eps differs from the zoo's: its variance is shifted so var + eps is unchanged.
"""
import collections
from dataclasses import dataclass, field

import numpy as np

from common.core.errors import FaceIdError


@dataclass
class Layer:
    kind: str                      # conv | bn | prelu | dense
    name: str                      # source name for the table (module prefix or ONNX node)
    weight: np.ndarray = None      # conv (O, I/g, kh, kw); dense (out, in); prelu (C,)
    bias: np.ndarray = None
    bn: tuple = None               # (gamma, beta, mean, var)
    eps: float = 1e-5
    attached: bool = True          # bn: consumes the previous conv/dense output directly
    sources: tuple = ()            # source tensor names this layer consumed
    notes: list = field(default_factory=list)


@dataclass
class Slot:
    kind: str
    prefix: str                    # zoo cell name; parameters are prefix + ".weight" etc.
    shape: tuple = None            # weight shape (conv/dense/prelu), channels (bn)
    has_bias: bool = False
    eps: float = 1e-5


BN_FIELDS = {"weight": 0, "bias": 1, "running_mean": 2, "running_var": 3}


def _f32(a):
    return np.array(a, dtype=np.float32, order="C")  # a copy; keeps 0-d scalars 0-d


def torch_layers(sd, skip=lambda name: False, eps=1e-5):
    """(layers, unused [(name, shape)]) from a PyTorch state_dict, grouped by module prefix in file order."""
    groups = collections.OrderedDict()
    unused = []
    for key, value in sd.items():
        if key.endswith("num_batches_tracked") or skip(key):
            continue
        prefix, _, leaf = key.rpartition(".")
        groups.setdefault(prefix, collections.OrderedDict())[leaf] = (key, value)
    layers = []
    for prefix, fields in groups.items():
        names = tuple(k for k, _ in fields.values())
        arr = {leaf: v for leaf, (_, v) in fields.items()}
        notes = ["fp16 -> fp32"] if any(np.asarray(v).dtype == np.float16 for v in arr.values()) else []
        if set(arr) == set(BN_FIELDS):
            layers.append(Layer("bn", prefix, bn=tuple(_f32(arr[f]) for f in BN_FIELDS), eps=eps, sources=names,
                                notes=notes))
        elif set(arr) <= {"weight", "bias"} and "weight" in arr and arr["weight"].ndim in (1, 2, 4):
            w = arr["weight"]
            kind = {4: "conv", 2: "dense", 1: "prelu"}[w.ndim]
            if kind == "prelu" and "bias" in arr:
                unused += [(k, tuple(np.shape(v))) for k, v in fields.values()]
                continue
            layers.append(Layer(kind, prefix, _f32(w), _f32(arr["bias"]) if "bias" in arr else None,
                                sources=names, notes=notes))
        else:
            unused += [(k, tuple(np.shape(v))) for k, v in fields.values()]
    return layers, unused


def zoo_slots(net):
    """The parametric layers of a MindSpore network in definition order."""
    from mindspore import nn

    slots = []
    for name, cell in net.cells_and_names():
        if isinstance(cell, nn.Conv2d):
            slots.append(Slot("conv", name, tuple(cell.weight.shape), bool(cell.has_bias)))
        elif isinstance(cell, (nn.BatchNorm1d, nn.BatchNorm2d)):
            slots.append(Slot("bn", name, (int(cell.moving_mean.shape[0]),), eps=float(cell.eps)))
        elif isinstance(cell, nn.PReLU):
            slots.append(Slot("prelu", name, tuple(cell.w.shape)))
        elif isinstance(cell, nn.Dense):
            slots.append(Slot("dense", name, tuple(cell.weight.shape), bool(cell.has_bias)))
    return slots


def _where(layer):
    return f"source layer {layer.name} ({layer.kind} {tuple(layer.weight.shape) if layer.weight is not None else ''})"


def describe(layer):
    """``conv (64, 3, 3, 3)`` / ``bn 64`` of a source layer (None: the end of the source)."""
    if layer is None:
        return "(end of source)"
    if layer.kind == "bn":
        return f"{layer.name}: bn {layer.bn[0].shape[0]}"
    return f"{layer.name}: {layer.kind} {tuple(layer.weight.shape)}"


def describe_slot(slot):
    if slot is None:
        return "(end of zoo net)"
    return f"{slot.prefix}: {slot.kind} {slot.shape[0] if slot.kind == 'bn' else slot.shape}"


def counts(items):
    """``52 conv, 52 bn, 35 prelu, 0 dense`` of source layers or zoo slots."""
    c = collections.Counter(x.kind for x in items)
    return ", ".join(f"{c.get(k, 0)} {k}" for k in ("conv", "bn", "prelu", "dense"))


TABLE_ROWS = 4  # matched rows shown before the first disagreement


def _failure(msg, trace, src, slot):
    """FaceIdError ``msg`` carrying ``table``: the last matched (source, zoo, "ok") rows and the mismatching one."""
    exc = FaceIdError(msg)
    exc.table = trace[-TABLE_ROWS:] + [(describe(src), describe_slot(slot), "MISMATCH")]
    exc.position = len(trace)
    return exc


def match(layers, slots, origin):
    """-> (params {zoo name: float32 array}, rows [(source, zoo name, shape, note)]); FaceIdError naming
    ``origin`` at the first disagreement."""
    params, rows, trace = collections.OrderedDict(), [], []
    i, pending, prev_kind = 0, None, None

    def put(name, value, source, note=""):
        params[name] = _f32(value)
        rows.append((source, name, tuple(params[name].shape), note))

    for k, slot in enumerate(slots):
        src = layers[i] if i < len(layers) else None
        i0 = i
        if slot.kind in ("conv", "dense"):
            if src is None or src.kind != slot.kind:
                got = _where(src) if src else "the end of the source network"
                raise _failure(f"{origin}: zoo layer {slot.prefix} is a {slot.kind} {slot.shape} but the source "
                                  f"has {got} there; is --arch right?", trace, src, slot)
            if tuple(src.weight.shape) != slot.shape:
                raise _failure(f"{origin}: {src.name}: weight {tuple(src.weight.shape)} but zoo layer "
                                  f"{slot.prefix} needs {slot.shape}; is --arch right?", trace, src, slot)
            note = ", ".join(src.notes)
            put(slot.prefix + ".weight", src.weight, src.sources[0] if src.sources else src.name, note)
            if slot.has_bias:
                bias = src.bias if src.bias is not None else np.zeros(slot.shape[0], np.float32)
                put(slot.prefix + ".bias", bias, src.sources[1] if len(src.sources) > 1 else "(none: zeros)", note)
                pending = None
            else:
                pending = (src.bias, src.name) if src.bias is not None else None
            i += 1
        elif slot.kind == "bn":
            c = slot.shape[0]
            shift = pending[0] if pending else np.zeros(c, np.float32)
            if src is not None and src.kind == "bn" and (src.attached or prev_kind not in ("conv", "dense")):
                gamma, beta, mean, var = src.bn
                if gamma.shape != (c,):
                    raise _failure(f"{origin}: {src.name}: BatchNorm of {gamma.shape[0]} channels where zoo "
                                      f"layer {slot.prefix} has {c}", trace, src, slot)
                notes = list(src.notes)
                if pending:
                    notes.append(f"folded bias of {pending[1]}")
                var = var + (src.eps - slot.eps)
                if src.eps != slot.eps:
                    notes.append(f"eps {src.eps:g} -> {slot.eps:g}")
                names = list(src.sources) + [src.name] * 4
                note = ", ".join(notes)
                put(slot.prefix + ".gamma", gamma, names[0], note)
                put(slot.prefix + ".beta", beta, names[1], note)
                put(slot.prefix + ".moving_mean", mean - shift, names[2], note)
                put(slot.prefix + ".moving_variance", var, names[3], note)
                i += 1
            elif prev_kind in ("conv", "dense"):
                what = f"BatchNorm folded into {pending[1]}" if pending else "no BatchNorm in the source"
                put(slot.prefix + ".gamma", np.ones(c), "(folded)", what + ": identity")
                put(slot.prefix + ".beta", shift, "(folded)", what + ": its bias")
                put(slot.prefix + ".moving_mean", np.zeros(c), "(folded)", "")
                put(slot.prefix + ".moving_variance", np.full(c, 1.0 - slot.eps), "(folded)", "var + eps = 1")
            else:
                got = _where(src) if src else "the end of the source network"
                raise _failure(f"{origin}: zoo layer {slot.prefix} is a BatchNorm but the source has {got} there",
                               trace, src, slot)
            pending = None
        elif slot.kind == "prelu":
            if src is None or src.kind != "prelu":
                got = _where(src) if src else "the end of the source network"
                raise _failure(f"{origin}: zoo layer {slot.prefix} is a PReLU but the source has {got} there",
                               trace, src, slot)
            w = src.weight.reshape(-1)
            if w.size == 1 and slot.shape[0] != 1:
                w = np.full(slot.shape, w[0], np.float32)
            if tuple(w.shape) != slot.shape:
                raise _failure(f"{origin}: {src.name}: PReLU of {w.size} channels where zoo layer {slot.prefix} "
                                  f"has {slot.shape[0]}", trace, src, slot)
            put(slot.prefix + ".w", w, src.sources[0] if src.sources else src.name, ", ".join(src.notes))
            pending = None
            i += 1
        if pending and slot.kind in ("conv", "dense") and not slot.has_bias:
            nxt = slots[k + 1] if k + 1 < len(slots) else None
            if nxt is None or nxt.kind != "bn":
                raise _failure(f"{origin}: {pending[1]} has a bias but zoo layer {slot.prefix} has none and no "
                                  f"BatchNorm follows to take it", trace, src, slot)
        trace.append((describe(layers[i0]) if i > i0 else "(none: identity)", describe_slot(slot), "ok"))
        prev_kind = slot.kind
    if i < len(layers):
        rest = ", ".join(l.name for l in layers[i:i + 4])
        raise _failure(f"{origin}: {len(layers) - i} source layer(s) left over after the zoo network ({rest}); "
                          f"is --arch right?", trace, layers[i], None)
    return params, rows
