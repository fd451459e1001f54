"""PFE's TensorFlow 1 checkpoints (seasonSH/Probabilistic-Face-Embeddings: the base ``sphere64_casia_am`` and
trained PFE models; ``.index`` + ``.data-*``) -> ``common.nets`` SphereNet, and the uncertainty module.

``--arch spherenet64`` (or ``spherenet20``) writes the base network under its own names: the checkpoint
``pfe/train.py --base_ckpt`` takes. ``--arch pfe_spherenet64`` adds the uncertainty module as ``uncertainty.*``
beside ``backbone.*``: the names of pfe's network, so ``pfe/eval.py --ckpt_file`` takes it.

TF layout (slim): ``SphereNet/conv{m}/Conv`` is module m's stride-2 conv (weights HWIO, biases),
``Conv_{k}`` its residual convs (no bias), each with ``p_re_lu/alpha`` (1, 1, C); ``SphereNet/Bottleneck``
a fully-connected layer without bias + BatchNorm (center only, eps 1e-3) on the NHWC-flattened features.
The uncertainty module: ``fc1`` + BatchNorm (scale and center), ReLU, ``fc_log_sigma_sq`` + BatchNorm (no
affine), then ``scale_and_shift`` (TF names: ``alpha`` is the scale, ``gamma`` the shift). FC weights on
flattened features are re-ordered from TF's (H, W, C) to the zoo's (C, H, W). Input: RGB, (x - 127.5) / 128.
"""
import collections
import re

import numpy as np

from common.core.errors import FaceIdError
from common.tools.import_weights.result import Imported, backbone
from common.tools.import_weights.tf_checkpoint import read_checkpoint
from common.nets.spherenet import DEPTHS

CONV = re.compile(r"^SphereNet/conv(\d)/Conv(?:_(\d+))?/(weights|biases|p_re_lu/alpha)$")
ARCHS = ("spherenet20", "spherenet64", "pfe_spherenet20", "pfe_spherenet64")
OPTIMIZER = re.compile(r"(/Momentum|/Adam(_\d)?|/RMSProp(_\d)?|/ExponentialMovingAverage)$"
                       r"|^global_step$|^beta\d_power$")


def _fc_from_nhwc(w, hw, channels):
    """TF (H*W*C, out) on NHWC-flattened input -> zoo Dense (out, C*H*W) on NCHW-flattened input."""
    h, wd = hw
    return np.ascontiguousarray(w.reshape(h, wd, channels, -1).transpose(3, 2, 0, 1).reshape(w.shape[-1], -1))


def _base(ckpt, arch, path, used):
    """Backbone params {zoo name: array}, rows, kwargs."""
    depth = int(arch[len("spherenet"):])
    convs = collections.defaultdict(dict)
    for name in ckpt:
        m = CONV.match(name)
        if m:
            convs[(int(m.group(1)), int(m.group(2) or 0))][m.group(3)] = name
    if not convs:
        raise FaceIdError(f"{path}: no SphereNet/conv*/Conv* variables: not a PFE SphereNet checkpoint")
    found = tuple(max([k for (mm, k) in convs if mm == m] + [0]) // 2 for m in (1, 2, 3, 4))
    if found != DEPTHS[depth]:
        raise FaceIdError(f"{path}: residual units per module {found} but {arch} has {DEPTHS[depth]}; "
                          f"is --arch right?")
    widths = tuple(int(ckpt[convs[(m, 0)]["weights"]].shape[3]) for m in (1, 2, 3, 4))
    bott = "SphereNet/Bottleneck/weights"
    if bott not in ckpt:
        raise FaceIdError(f"{path}: {bott} not found")
    emb = int(ckpt[bott].shape[1])
    kwargs = {}
    if widths != (64, 128, 256, 512):
        kwargs["widths"] = widths
    if emb != 512:
        kwargs["embedding_size"] = emb
    params, rows = collections.OrderedDict(), []

    def put(src, dst, value, note=""):
        params[dst] = np.array(value, dtype=np.float32, order="C")
        rows.append((src, dst, tuple(params[dst].shape), note))
        used.add(src)

    start = 0
    for m, n in zip((1, 2, 3, 4), DEPTHS[depth]):
        for k in range(0, 2 * n + 1):
            v = convs.get((m, k), {})
            if "weights" not in v or "p_re_lu/alpha" not in v or (k == 0 and "biases" not in v):
                raise FaceIdError(f"{path}: SphereNet/conv{m}/Conv{'_%d' % k if k else ''} is incomplete")
            if k == 0:
                conv, act = f"trunk.{start}", f"trunk.{start + 1}.w"
                put(v["biases"], f"{conv}.bias", ckpt[v["biases"]])
            else:
                unit, second = start + 2 + (k - 1) // 2, (k - 1) % 2
                conv, act = f"trunk.{unit}.body.{2 * second}", f"trunk.{unit}.body.{2 * second + 1}.w"
                if "biases" in v:
                    raise FaceIdError(f"{path}: {v['biases']}: residual convs have no bias in this layout")
            put(v["weights"], f"{conv}.weight", ckpt[v["weights"]].transpose(3, 2, 0, 1), "HWIO -> OIHW")
            put(v["p_re_lu/alpha"], act, ckpt[v["p_re_lu/alpha"]].reshape(-1))
        start += 2 + n
    hw = (7, 6)
    put(bott, "fc.weight", _fc_from_nhwc(ckpt[bott], hw, widths[-1]), "NHWC -> NCHW flatten order")
    for tf_name, zoo in (("beta", "beta"), ("moving_mean", "moving_mean"), ("moving_variance", "moving_variance")):
        src = f"SphereNet/Bottleneck/BatchNorm/{tf_name}"
        if src not in ckpt:
            raise FaceIdError(f"{path}: {src} not found")
        put(src, f"bn.{zoo}", ckpt[src])
    gamma = "SphereNet/Bottleneck/BatchNorm/gamma"
    if gamma in ckpt:
        put(gamma, "bn.gamma", ckpt[gamma])
    else:
        params["bn.gamma"] = np.ones(emb, np.float32)
        rows.append(("(none: TF scale=False)", "bn.gamma", (emb,), "ones"))
    return params, rows, kwargs, widths, emb


def _uncertainty(ckpt, path, widths, emb, used):
    params, rows = collections.OrderedDict(), []
    u = "UncertaintyModule/"

    def get(name):
        if u + name not in ckpt:
            raise FaceIdError(f"{path}: {u + name} not found: not a trained PFE checkpoint (use --arch "
                              f"spherenet64 for a base model)")
        used.add(u + name)
        return ckpt[u + name]

    def put(src, dst, value, note=""):
        params[dst] = np.array(value, dtype=np.float32, order="C")
        rows.append((src, dst, tuple(params[dst].shape), note))

    put(u + "fc1/weights", "uncertainty.fc1.weight", _fc_from_nhwc(get("fc1/weights"), (7, 6), widths[-1]),
        "NHWC -> NCHW flatten order")
    for f in ("gamma", "beta", "moving_mean", "moving_variance"):
        put(u + f"fc1/BatchNorm/{f}", f"uncertainty.bn1.{f}", get(f"fc1/BatchNorm/{f}"))
    put(u + "fc_log_sigma_sq/weights", "uncertainty.fc2.weight", get("fc_log_sigma_sq/weights").T)
    for f in ("moving_mean", "moving_variance"):
        put(u + f"fc_log_sigma_sq/BatchNorm/{f}", f"uncertainty.bn2.{f}", get(f"fc_log_sigma_sq/BatchNorm/{f}"))
    put("(none: no affine)", "uncertainty.bn2.gamma", np.ones(emb), "ones")
    put("(none: no affine)", "uncertainty.bn2.beta", np.zeros(emb), "zeros")
    put(u + "scale_and_shift/alpha", "uncertainty.gamma", get("scale_and_shift/alpha").reshape(()), "scale")
    put(u + "scale_and_shift/gamma", "uncertainty.beta", get("scale_and_shift/gamma").reshape(()), "shift")
    feat = widths[-1] * 42
    expected = collections.OrderedDict([
        ("uncertainty.fc1.weight", (emb, feat)), ("uncertainty.bn1.gamma", (emb,)), ("uncertainty.bn1.beta", (emb,)),
        ("uncertainty.bn1.moving_mean", (emb,)), ("uncertainty.bn1.moving_variance", (emb,)),
        ("uncertainty.fc2.weight", (emb, emb)), ("uncertainty.bn2.moving_mean", (emb,)),
        ("uncertainty.bn2.moving_variance", (emb,)), ("uncertainty.bn2.gamma", (emb,)),
        ("uncertainty.bn2.beta", (emb,)), ("uncertainty.gamma", ()), ("uncertainty.beta", ())])
    return params, rows, expected


def convert(path, arch, **_):
    if arch not in ARCHS:
        raise FaceIdError(f"--arch {arch}: tf_pfe checkpoints map to {', '.join(ARCHS)}")
    ckpt = read_checkpoint(path)
    full = arch.startswith("pfe_")
    base_arch = arch[len("pfe_"):] if full else arch
    used = set()
    params, rows, kwargs, widths, emb = _base(ckpt, base_arch, path, used)
    net, expected = backbone(base_arch, **kwargs)
    dropped, notes = [], []
    if full:
        params = collections.OrderedDict(("backbone." + k, v) for k, v in params.items())
        rows = [(s, "backbone." + d, sh, n) for s, d, sh, n in rows]
        expected = collections.OrderedDict(("backbone." + k, v) for k, v in expected.items())
        u_params, u_rows, u_expected = _uncertainty(ckpt, path, widths, emb, used)
        params.update(u_params)
        rows += u_rows
        expected.update(u_expected)
        notes.append("names backbone.* + uncertainty.*: pfe/eval.py --ckpt_file and pfe/train.py --base_ckpt take it")
        net = None
    else:
        dropped += [(k, f"uncertainty module (--arch pfe_{base_arch} keeps it)") for k in ckpt
                    if k.startswith("UncertaintyModule/") and not OPTIMIZER.search(k)]
        notes.append("base network names: pfe/train.py --base_ckpt takes this file")
    dropped += [(k, "optimizer state / step counter") for k in ckpt if OPTIMIZER.search(k)]
    skipped = {k for k, _ in dropped}
    unused = [(k, tuple(v.shape)) for k, v in ckpt.items() if k not in used and k not in skipped]
    return Imported("tf_pfe", arch, path, params, rows, expected, unused=unused, dropped=dropped, notes=notes,
                    net_kwargs=kwargs, net=net, preprocess="RGB, (x - 127.5) / 128, 112x96 aligned (PFE)",
                    parity_skip="TensorFlow is not used here; tests/test_import_weights_tf_pfe.py checks parity "
                                "against an independent network")
