"""insightface ONNX models -> common/nets: graphs built here with onnx.helper in the layout of insightface's
exported files (BatchNorm folded into convs, PRelu slopes (C,1,1), pre-activation BatchNormalization nodes, Gemm
or MatMul embedding + BatchNorm), random weights; the imported MindSpore net equals onnxruntime on the same
faces, insightface preprocessing (x - 127.5) / 127.5 RGB. No torch needed."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx package reads ONNX files")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the reference")

from onnx import helper, numpy_helper  # noqa: E402

from common.core.env import set_device  # noqa: E402
from common.tools.import_weights.cli import main  # noqa: E402
from common.train.checkpoint import load_weights  # noqa: E402

set_device("CPU")


class Graph:
    def __init__(self, seed):
        self.rng, self.nodes, self.inits, self.n = np.random.default_rng(seed), [], [], 0

    def const(self, arr):
        name = f"onnx::W_{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(arr, np.float32), name))
        return name

    def node(self, op, inputs, **attrs):
        self.n += 1
        out = f"{self.n}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"{op}_{self.n}", **attrs))
        return out

    def bn_stats(self, c):
        r = self.rng
        return r.uniform(0.5, 1.5, c), r.normal(0, 0.1, c), r.normal(0, 0.1, c), r.uniform(0.5, 1.5, c)

    def conv(self, x, cin, cout, k, s=1, p=0, g=1):
        """conv (no bias) + BatchNorm, folded as torch.onnx.export does in eval mode."""
        w = self.rng.normal(0, (1.0 / (cin // g * k * k)) ** 0.5, (cout, cin // g, k, k))
        gamma, beta, mean, var = self.bn_stats(cout)
        scale = gamma / np.sqrt(var + 1e-5)
        return self.node("Conv", [x, self.const(w * scale[:, None, None, None]), self.const(beta - mean * scale)],
                         kernel_shape=[k, k], strides=[s, s], pads=[p] * 4, group=g)

    def bn(self, x, c):
        return self.node("BatchNormalization", [x] + [self.const(a) for a in self.bn_stats(c)], epsilon=1e-5)

    def prelu(self, x, c):
        return self.node("PRelu", [x, self.const(self.rng.uniform(0, 0.4, (c, 1, 1)))])

    def save(self, path, out):
        graph = helper.make_graph(self.nodes, "g", [helper.make_tensor_value_info("input.1", 1, [None, 3, 112, 112])],
                                  [helper.make_tensor_value_info(out, 1, [None, None])], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        onnx.save(model, path)


def iresnet_onnx(path, layers, widths, emb, seed=0):
    g = Graph(seed)
    x = g.prelu(g.conv("input.1", 3, widths[0], 3, 1, 1), widths[0])
    cin = widths[0]
    for n, w in zip(layers, widths):
        for j in range(n):
            s = 2 if j == 0 else 1
            y = g.prelu(g.conv(g.bn(x, cin), cin, w, 3, 1, 1), w)
            y = g.conv(y, w, w, 3, s, 1)
            short = g.conv(x, cin, w, 1, s, 0) if s != 1 or cin != w else x
            x, cin = g.node("Add", [y, short]), w
    x = g.node("Flatten", [g.bn(x, cin)], axis=1)
    fc = g.node("Gemm", [x, g.const(g.rng.normal(0, (cin * 49) ** -0.5, (emb, cin * 49))),
                         g.const(g.rng.normal(0, 0.1, emb))], transB=1)
    g.save(path, g.bn(fc, emb))


def mbf_onnx(path, emb=512, blocks=(1, 4, 6, 2), scale=2, seed=1):
    g = Graph(seed)

    def block(x, cin, c, k=1, s=1, p=0, groups=1, act=True):
        y = g.conv(x, cin, c, k, s, p, groups)
        return g.prelu(y, c) if act else y

    def depthwise(x, cin, cout, s, mid, residual):
        y = block(block(block(x, cin, mid), mid, mid, 3, s, 1, mid), mid, cout, act=False)
        return g.node("Add", [x, y]) if residual else y

    c1, c2 = 64 * scale, 128 * scale
    x = block(block("input.1", 3, c1, 3, 2, 1), c1, c1, 3, 1, 1, 64)
    for cin, cout, mid_s, mid_r, n in ((c1, c1, 128, 128, blocks[1]), (c1, c2, 256, 256, blocks[2]),
                                       (c2, c2, 512, 256, blocks[3])):
        x = depthwise(x, cin, cout, 2, mid_s, False)
        for _ in range(n):
            x = depthwise(x, cout, cout, 1, mid_r, True)
    x = block(x, c2, 512)
    x = g.node("Flatten", [block(x, 512, 512, 7, 1, 0, 512, act=False)], axis=1)
    x = g.node("MatMul", [x, g.const(g.rng.normal(0, 512 ** -0.5, (512, emb)))])
    g.save(path, g.bn(x, emb))


def faces(seed=0):
    img = np.random.default_rng(seed).integers(0, 256, (2, 112, 112, 3)).astype(np.float32)
    return ((img - 127.5) / 127.5).transpose(0, 3, 1, 2).copy()


def check(arch, onnx_path, ckpt, **kwargs):
    import mindspore as ms

    from common.nets import create_backbone

    x = faces()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"input.1": x})[0]
    net = create_backbone(arch, **kwargs)
    load_weights(net, str(ckpt))
    net.set_train(False)
    got = net(ms.Tensor(x)).asnumpy()
    assert np.abs(got - ref).max() / np.abs(ref).max() < 1e-4


def test_iresnet_fused_onnx(tmp_path, capsys):
    widths, emb = (16, 32, 48, 64), 64
    iresnet_onnx(str(tmp_path / "w600k_r18.onnx"), (2, 2, 2, 2), widths, emb)
    out = tmp_path / "r18.ckpt"
    imp = main(["--from", "insightface_onnx", "--arch", "iresnet18", "--in", str(tmp_path / "w600k_r18.onnx"),
                "--out", str(out)])
    printed = capsys.readouterr().out
    assert "parity: onnxruntime vs MindSpore" in printed and "folded" in printed
    assert imp.net_kwargs == {"widths": widths, "embedding_size": emb}
    check("iresnet18", tmp_path / "w600k_r18.onnx", out, widths=widths, embedding_size=emb)


def test_mbf_onnx(tmp_path):
    mbf_onnx(str(tmp_path / "w600k_mbf.onnx"))
    out = tmp_path / "mbf.ckpt"
    main(["--from", "insightface_onnx", "--arch", "mbf", "--in", str(tmp_path / "w600k_mbf.onnx"), "--out", str(out),
          "--quiet"])
    check("mbf", tmp_path / "w600k_mbf.onnx", out)


def test_onnx_of_another_arch_refused(tmp_path):
    from common.core.errors import FaceIdError

    iresnet_onnx(str(tmp_path / "m.onnx"), (2, 2, 2, 2), (16, 16, 16, 16), 32)
    with pytest.raises(FaceIdError, match="m.onnx"):
        main(["--from", "insightface_onnx", "--arch", "mbf", "--in", str(tmp_path / "m.onnx"),
              "--out", str(tmp_path / "m.ckpt")])
    assert not (tmp_path / "m.ckpt").exists()


def test_torch_exported_onnx_static_batch(tmp_path):
    """A file from torch.onnx.export (eval mode folds BN; batch fixed at 1, as some insightface files) imports and
    equals the PyTorch network itself."""
    torch = pytest.importorskip("torch", reason="PyTorch is needed to export an ONNX file")
    import mindspore as ms

    from tests.torch_nets import IResNet, randomize

    from common.nets import create_backbone

    widths, emb = (16, 16, 32, 32), 32
    src = randomize(IResNet((2, 2, 2, 2), widths=widths, emb=emb), seed=11)
    try:
        torch.onnx.export(src, torch.zeros(1, 3, 112, 112), str(tmp_path / "r18.onnx"), input_names=["data"],
                          opset_version=13, dynamo=False)
    except Exception as exc:  # the TorchScript exporter may be gone in a later torch
        pytest.skip(f"torch.onnx.export (TorchScript) unavailable: {type(exc).__name__}")
    main(["--from", "insightface_onnx", "--arch", "iresnet18", "--in", str(tmp_path / "r18.onnx"),
          "--out", str(tmp_path / "r18.ckpt"), "--quiet"])
    x = faces(seed=3)
    with torch.no_grad():
        ref = src(torch.from_numpy(x)).numpy()
    net = create_backbone("iresnet18", widths=widths, embedding_size=emb)
    load_weights(net, str(tmp_path / "r18.ckpt"))
    net.set_train(False)
    got = net(ms.Tensor(x)).asnumpy()
    assert np.abs(got - ref).max() / np.abs(ref).max() < 1e-4
