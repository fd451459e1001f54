"""PFE TensorFlow checkpoints (.index SSTable + .data, written here by a small writer of the public format, no
TensorFlow) -> common/nets SphereNet and pfe's uncertainty module. Reference: an independent numpy forward of the
TF layout (NHWC, "SAME" padding, NHWC flatten, slim BatchNorm). Then pfe/train.py's base loading
(pfe.src.model.build_pfe) and pfe/eval.py's (load_pfe) take the imported files. No torch needed."""
import os
import struct

import numpy as np
import pytest

from common.core.env import set_device
from common.tools.import_weights.cli import main
from common.tools.import_weights.tf_checkpoint import read_checkpoint

set_device("CPU")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_PFE = os.path.join(ROOT, "pfe", "configs", "demo.yaml")   # spherenet20, widths 16/32/48/64, 128-d
WIDTHS, EMB, UNITS = (16, 32, 48, 64), 128, (1, 2, 4, 1)


# ---------------- a writer of TF's checkpoint format ----------------
def varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    return key + (varint(payload) if wire == 0 else varint(len(payload)) + payload)


def block(entries):
    """A table block, every entry a restart point (no shared prefixes)."""
    body, restarts = bytearray(), []
    for k, v in entries:
        restarts.append(len(body))
        body += varint(0) + varint(len(k)) + varint(len(v)) + k + v
    for r in restarts:
        body += struct.pack("<I", r)
    return bytes(body + struct.pack("<I", len(restarts)))


def write_tf_checkpoint(prefix, variables):
    """{name: float32 array} -> PREFIX.index + PREFIX.data-00000-of-00001 (TF bundle V2 layout)."""
    data, entries = bytearray(), []
    for name in sorted(variables):
        arr = np.asarray(variables[name], dtype="<f4").copy()  # (ascontiguousarray would make scalars 1-d)
        shape = b"".join(field(2, 2, field(1, 0, d)) for d in arr.shape)
        entry = field(1, 0, 1) + field(2, 2, shape) + field(4, 0, len(data)) + field(5, 0, arr.nbytes)
        entries.append((name.encode(), entry))
        data += arr.tobytes()
    header = field(1, 0, 1) + field(3, 2, field(1, 0, 1))          # num_shards 1, version {producer 1}
    entries.insert(0, (b"", header))
    out = bytearray()
    data_block = block(entries)
    handle_data = varint(0) + varint(len(data_block))
    out += data_block + b"\0\0\0\0\0"                                # type 0 (none) + crc (unchecked here)
    meta = block([])
    handle_meta = varint(len(out)) + varint(len(meta))
    out += meta + b"\0" * 5
    index = block([(entries[-1][0] + b"\xff", handle_data)])
    handle_index = varint(len(out)) + varint(len(index))
    out += index + b"\0" * 5
    footer = handle_meta + handle_index
    out += footer + b"\0" * (40 - len(footer)) + struct.pack("<Q", 0xDB4775248B80FB57)
    with open(prefix + ".index", "wb") as f:
        f.write(bytes(out))
    with open(prefix + ".data-00000-of-00001", "wb") as f:
        f.write(bytes(data))


# ---------------- the TF network's variables and an independent numpy forward ----------------
def tf_variables(rng, with_uncertainty):
    v, cin = {}, 3
    for m, (w, n) in enumerate(zip(WIDTHS, UNITS), start=1):
        for k in range(2 * n + 1):
            scope = f"SphereNet/conv{m}/Conv" + (f"_{k}" if k else "")
            c = cin if k == 0 else w
            v[scope + "/weights"] = rng.normal(0, (1 / (9 * c)) ** 0.5, (3, 3, c, w))
            if k == 0:
                v[scope + "/biases"] = rng.normal(0, 0.1, w)
            v[scope + "/p_re_lu/alpha"] = rng.uniform(0, 0.4, (1, 1, w))
        cin = w
    feat = 7 * 6 * WIDTHS[-1]
    v["SphereNet/Bottleneck/weights"] = rng.normal(0, feat ** -0.5, (feat, EMB))
    v["SphereNet/Bottleneck/BatchNorm/beta"] = rng.normal(0, 0.1, EMB)
    v["SphereNet/Bottleneck/BatchNorm/moving_mean"] = rng.normal(0, 0.1, EMB)
    v["SphereNet/Bottleneck/BatchNorm/moving_variance"] = rng.uniform(0.5, 1.5, EMB)
    v["global_step"] = np.array(3000.0)
    if with_uncertainty:
        u = "UncertaintyModule/"
        v[u + "fc1/weights"] = rng.normal(0, feat ** -0.5, (feat, EMB))
        v[u + "fc1/BatchNorm/gamma"] = rng.uniform(0.5, 1.5, EMB)
        v[u + "fc1/BatchNorm/beta"] = rng.normal(0, 0.1, EMB)
        v[u + "fc1/BatchNorm/moving_mean"] = rng.normal(0, 0.1, EMB)
        v[u + "fc1/BatchNorm/moving_variance"] = rng.uniform(0.5, 1.5, EMB)
        v[u + "fc_log_sigma_sq/weights"] = rng.normal(0, EMB ** -0.5, (EMB, EMB))
        v[u + "fc_log_sigma_sq/weights/Momentum"] = rng.normal(0, 1, (EMB, EMB))
        v[u + "fc_log_sigma_sq/BatchNorm/moving_mean"] = rng.normal(0, 0.1, EMB)
        v[u + "fc_log_sigma_sq/BatchNorm/moving_variance"] = rng.uniform(0.5, 1.5, EMB)
        v[u + "scale_and_shift/alpha"] = np.array(0.7)
        v[u + "scale_and_shift/gamma"] = np.array(-1.5)
    return {k: np.asarray(a, np.float32) for k, a in v.items()}


def conv_same(x, w, stride):
    """TF conv2d, NHWC, 'SAME' (extra padding at bottom/right), HWIO weights."""
    n, h, wd, _ = x.shape
    oh, ow = -(-h // stride), -(-wd // stride)
    ph, pw = max((oh - 1) * stride + 3 - h, 0), max((ow - 1) * stride + 3 - wd, 0)
    xp = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))[:, ::stride, ::stride][:, :oh, :ow]
    return np.einsum("nhwcij,ijco->nhwo", win, w, optimize=True)


def reference(v, images_nhwc):
    prelu = lambda x, a: np.maximum(x, 0) + a.reshape(-1) * np.minimum(x, 0)  # noqa: E731
    x = images_nhwc.astype(np.float64)
    for m, n in enumerate(UNITS, start=1):
        s = f"SphereNet/conv{m}/Conv"
        x = prelu(conv_same(x, v[s + "/weights"], 2) + v[s + "/biases"], v[s + "/p_re_lu/alpha"])
        for u in range(n):
            y = x
            for k in (2 * u + 1, 2 * u + 2):
                y = prelu(conv_same(y, v[f"{s}_{k}/weights"], 1), v[f"{s}_{k}/p_re_lu/alpha"])
            x = x + y
    flat = x.reshape(x.shape[0], -1)                              # NHWC flatten, as slim.flatten
    b = "SphereNet/Bottleneck/"
    emb = flat @ v[b + "weights"]
    emb = (emb - v[b + "BatchNorm/moving_mean"]) / np.sqrt(v[b + "BatchNorm/moving_variance"] + 1e-3) \
        + v[b + "BatchNorm/beta"]
    out = {"embedding": emb}
    if "UncertaintyModule/fc1/weights" in v:
        u = "UncertaintyModule/"
        def bn(t, p, g=1.0, be=0.0):
            return g * (t - v[p + "moving_mean"]) / np.sqrt(v[p + "moving_variance"] + 1e-3) + be

        h = np.maximum(bn(flat @ v[u + "fc1/weights"], u + "fc1/BatchNorm/", v[u + "fc1/BatchNorm/gamma"],
                          v[u + "fc1/BatchNorm/beta"]), 0)
        s = bn(h @ v[u + "fc_log_sigma_sq/weights"], u + "fc_log_sigma_sq/BatchNorm/")
        s = v[u + "scale_and_shift/alpha"] * s + v[u + "scale_and_shift/gamma"]
        out["log_sigma_sq"] = np.log(1e-6 + np.exp(s))
    return out


def images():
    rgb = np.random.default_rng(9).integers(0, 256, (2, 112, 96, 3)).astype(np.float32)
    return (rgb - 127.5) / 128.0                                   # PFE 'mean_scale', RGB


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_reader_round_trip(tmp_path):
    v = tf_variables(np.random.default_rng(0), True)
    write_tf_checkpoint(str(tmp_path / "ckpt-3000"), v)
    with open(tmp_path / "checkpoint", "w") as f:
        f.write('model_checkpoint_path: "ckpt-3000"\nall_model_checkpoint_paths: "ckpt-3000"\n')
    for where in (tmp_path / "ckpt-3000", tmp_path / "ckpt-3000.index", tmp_path):
        got = read_checkpoint(str(where))
        assert set(got) == set(v) and all(np.array_equal(got[k], v[k]) for k in v)


def test_base_model_into_pfe_base_ckpt(tmp_path, capsys):
    import mindspore as ms

    from common.core.config import load_config
    from pfe.src.model import build_pfe

    v = tf_variables(np.random.default_rng(1), with_uncertainty=False)
    write_tf_checkpoint(str(tmp_path / "sphere64_casia_am"), v)
    out = tmp_path / "base.ckpt"
    imp = main(["--from", "tf_pfe", "--arch", "spherenet20", "--in", str(tmp_path / "sphere64_casia_am.index"),
                "--out", str(out)])
    assert imp.net_kwargs == {"widths": WIDTHS, "embedding_size": EMB}
    printed = capsys.readouterr().out
    assert "SphereNet/conv3/Conv_8/weights" in printed and "global_step" in printed

    cfg = load_config(DEMO_PFE, [])
    net = build_pfe(cfg, str(out))                                  # what pfe/train.py --base_ckpt does
    x = images()
    net.set_train(False)
    got = net.backbone(ms.Tensor(x.transpose(0, 3, 1, 2).copy())).asnumpy()
    assert rel(got, reference(v, x)["embedding"]) < 1e-4


def test_trained_pfe_model_with_uncertainty(tmp_path):
    import mindspore as ms

    from common.core.config import load_config
    from common.core.errors import FaceIdError
    from pfe.src.model import load_pfe

    v = tf_variables(np.random.default_rng(2), with_uncertainty=True)
    write_tf_checkpoint(str(tmp_path / "ckpt-3000"), v)
    out = tmp_path / "pfe.ckpt"
    main(["--from", "tf_pfe", "--arch", "pfe_spherenet20", "--in", str(tmp_path / "ckpt-3000"), "--out", str(out),
          "--quiet"])
    net = load_pfe(load_config(DEMO_PFE, []), str(out))             # what pfe/eval.py --ckpt_file does
    x = images()
    mu, log_sigma_sq = (t.asnumpy() for t in net(ms.Tensor(x.transpose(0, 3, 1, 2).copy())))
    ref = reference(v, x)
    emb = ref["embedding"] / np.linalg.norm(ref["embedding"], axis=1, keepdims=True)
    assert rel(mu, emb) < 1e-4 and rel(log_sigma_sq, ref["log_sigma_sq"]) < 1e-4

    # the same checkpoint as a base only: the uncertainty variables are dropped and said so
    imp = main(["--from", "tf_pfe", "--arch", "spherenet20", "--in", str(tmp_path / "ckpt-3000"),
                "--out", str(tmp_path / "b.ckpt"), "--quiet"])
    assert any(name.startswith("UncertaintyModule/") for name, _ in imp.dropped)
    # an unknown variable is refused unless --allow_missing names it
    v["Logits/weights"] = np.zeros((EMB, 10), np.float32)
    write_tf_checkpoint(str(tmp_path / "more"), v)
    with pytest.raises(FaceIdError, match="Logits/weights"):
        main(["--from", "tf_pfe", "--arch", "spherenet20", "--in", str(tmp_path / "more"),
              "--out", str(tmp_path / "c.ckpt")])
    assert not (tmp_path / "c.ckpt").exists()
    main(["--from", "tf_pfe", "--arch", "spherenet20", "--in", str(tmp_path / "more"), "--out",
          str(tmp_path / "c.ckpt"), "--allow_missing", "Logits/*", "--quiet"])
