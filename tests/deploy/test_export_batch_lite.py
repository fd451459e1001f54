"""Deployment that loads (issue 23 item 6): export --batch_size N / dynamic, checked against a numpy forward
written here; the MINDIR header read with a minimal protobuf walk, checked against MindSpore's own generated
protobuf class; the C++ harness refuses a MINDIR its MindSpore Lite cannot read, and a missing CANN toolkit,
before it preprocesses or builds anything."""
import os
import subprocess

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn, ops

from common.core.config import Config
from common.core.errors import FaceIdError
from tests.helpers import ROOT

PRE = {"channels": 3, "color": "rgb", "resize": 16, "crop": None, "mean": 0.0, "std": 1.0, "flip": False,
       "interp": "linear"}


class Tiny(nn.Cell):
    """conv 3->4 (3x3, pad 1) -> ReLU -> flatten -> dense 16*16*4 -> 8 (a Reshape with the batch in it)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, pad_mode="pad", padding=1, has_bias=True)
        self.fc = nn.Dense(4 * 16 * 16, 8)
        self.input_size = (3, 16, 16)

    def construct(self, x):
        h = ops.relu(self.conv(x))
        return self.fc(h.reshape(h.shape[0], -1))


def numpy_forward(params, x):
    """The same network in numpy loops over the 3x3 window (independent of MindSpore and ONNX)."""
    w, b = params["conv.weight"], params["conv.bias"]
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((x.shape[0], 4, 16, 16))
    for i in range(3):
        for j in range(3):
            out += np.einsum("nchw,oc->nohw", xp[:, :, i:i + 16, j:j + 16], w[:, :, i, j])
    h = np.maximum(out + b[None, :, None, None], 0).reshape(x.shape[0], -1)
    return h @ params["fc.weight"].T + params["fc.bias"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    ms.set_seed(3)
    net = Tiny()
    path = str(d / "tiny.ckpt")
    ms.save_checkpoint(net, path)
    params = {k: v.asnumpy().astype(np.float64) for k, v in ms.load_checkpoint(path).items()}
    return path, params


def _build(ckpt):
    def build():
        net = Tiny()
        ms.load_param_into_net(net, ms.load_checkpoint(ckpt))
        net.set_train(False)
        return net
    return build


def _export(tiny, tmp_path, fmt, batch):
    from common.deploy.export import export_checked

    cfg = Config(model="tiny", backbone="tinynet", preprocess=dict(PRE), ckpt_file=tiny[0], file_format=fmt,
                 file_name=str(tmp_path / f"tiny_{fmt}_{batch}"), batch_size_export=batch, flip=False)
    return export_checked(cfg, _build(tiny[0]), "CPU")[0]


@pytest.mark.parametrize("fmt", ["ONNX", "MINDIR"])
def test_dynamic_batch_export_runs_any_batch(tiny, tmp_path, fmt):
    from common.deploy.export import load_exported

    path = _export(tiny, tmp_path, fmt, "dynamic")
    model = load_exported(path)
    assert model.meta["input"]["shape"] == ["N", 3, 16, 16] and model.batch is None
    if fmt == "ONNX":
        import onnx

        dims = onnx.load(path).graph.input[0].type.tensor_type.shape.dim
        assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == [3, 16, 16]
    rng = np.random.default_rng(1)
    for n in (1, 7):
        x = rng.standard_normal((n, 3, 16, 16)).astype(np.float32)
        got = model.run(x)[0]
        assert got.shape == (n, 8)
        np.testing.assert_allclose(got, numpy_forward(tiny[1], x), atol=1e-4)


def test_static_batch_export_and_the_batch_size_option(tiny, tmp_path):
    from common.core.config import load_config
    from common.deploy.export import load_exported

    path = _export(tiny, tmp_path, "ONNX", 4)
    model = load_exported(path)
    assert model.meta["input"]["shape"] == [4, 3, 16, 16] and model.batch == 4
    x = np.random.default_rng(2).standard_normal((6, 3, 16, 16)).astype(np.float32)  # fed as 4 + 2 (padded)
    np.testing.assert_allclose(model.run(x)[0], numpy_forward(tiny[1], x), atol=1e-4)
    yaml = os.path.join(ROOT, "cosface", "configs", "demo.yaml")
    assert load_config(yaml, ["--batch_size", "8"], command="export").batch_size_export == 8
    assert load_config(yaml, ["--batch_size", "dynamic"], command="export").batch_size_export == "dynamic"
    with pytest.raises(FaceIdError, match="positive integer or dynamic"):
        load_config(yaml, ["--batch_size", "0"], command="export")


def test_mindir_header_matches_mindsporess_protobuf(tiny, tmp_path):
    from mindspore.train import mind_ir_pb2

    from common.deploy.lite_check import lite_can_load, mindir_info

    path = _export(tiny, tmp_path, "MINDIR", 2)
    proto = mind_ir_pb2.ModelProto()
    with open(path, "rb") as f:
        proto.ParseFromString(f.read())
    info = mindir_info(path)
    assert info["mind_ir_version"] == proto.mind_ir_version and info["ir_version"] == proto.ir_version
    assert info["producer_name"] == proto.producer_name == "MindSpore" and proto.mind_ir_version >= 1
    bad = tmp_path / "bad.mindir"
    bad.write_bytes(b"\xff" * 64)
    with pytest.raises(FaceIdError, match="not a MINDIR"):
        mindir_info(str(bad))
    # Lite 2.0 reads mind ir version 1 only (its own error message); same-release Lite reads its MindSpore's
    assert lite_can_load({"mind_ir_version": 3, "producer_version": "2.10.0"}, "2.0.0")[0] is False
    assert lite_can_load({"mind_ir_version": 3, "producer_version": "2.10.0"}, "2.9.0")[0] is False
    assert lite_can_load({"mind_ir_version": 3, "producer_version": "2.10.0"}, "2.10.1")[0] is True


def _harness(model, data, tmp_path, target, **env):
    e = {k: v for k, v in os.environ.items() if k not in ("MSLITE_HOME", "MSLITE_VERSION", "ASCEND_HOME",
                                                          "ASCEND_TOOLKIT_HOME")}
    e.update(env, WORK_DIR=str(tmp_path / "work"))
    return subprocess.run(["bash", os.path.join(ROOT, "scripts", "run_infer_310.sh"), model, str(data), "0",
                           target], capture_output=True, text=True, timeout=300, env=e)


def test_harness_checks_the_lite_version_before_any_work(tiny, tmp_path):
    """A MindSpore MINDIR on CPU without a sibling .onnx would be loaded by Lite as it is: refused first, naming
    the Lite it needs; with a Lite that reads it (MSLITE_VERSION) the harness goes on to preprocess."""
    path = _export(tiny, tmp_path, "MINDIR", 1)
    data = tmp_path / "images"
    data.mkdir()
    p = _harness(path, data, tmp_path, "CPU")
    assert p.returncode != 0 and "== preprocess" not in p.stdout and "== build" not in p.stdout
    err = [ln for ln in p.stderr.splitlines() if ln.startswith("error: ")]
    assert len(err) == 1 and f"MindSpore Lite >= {'.'.join(ms.__version__.split('.')[:2])}" in err[0], p.stderr
    assert "mind_ir_version" in err[0] and "MSLITE_HOME" in err[0] and "export ONNX too" in err[0]
    assert not (tmp_path / "work").exists()

    p = _harness(path, data, tmp_path, "CPU", MSLITE_VERSION=ms.__version__)
    assert "lite check:" in p.stdout and ": ok" in p.stdout and "== preprocess" in p.stdout
    assert "== build" not in p.stdout  # the empty image folder stops it at the pre-step


def _cann(tmp_path, **env):
    e = {k: v for k, v in os.environ.items() if k not in ("ASCEND_HOME", "ASCEND_TOOLKIT_HOME", "LD_LIBRARY_PATH")}
    e.update(env)
    script = (f"set -euo pipefail; source {os.path.join(ROOT, 'scripts', 'cann_env.sh')}; cann_env; "
              "echo \"SET=${FACEID_TEST_CANN_SET:-} HOME=$ASCEND_TOOLKIT_HOME LD=$LD_LIBRARY_PATH\"")
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=e, timeout=60)


def test_cann_environment_is_checked_and_set(tmp_path):
    if os.path.isdir("/usr/local/Ascend/ascend-toolkit/latest"):
        pytest.skip("a real CANN toolkit is installed here")
    p = _cann(tmp_path, ASCEND_HOME=str(tmp_path / "no_cann"))
    assert p.returncode == 1 and p.stderr.count("error: ") == 1
    assert "CANN toolkit" in p.stderr and "ASCEND_TOOLKIT_HOME" in p.stderr and str(tmp_path / "no_cann") in p.stderr

    toolkit = tmp_path / "Ascend" / "ascend-toolkit" / "latest"
    (toolkit / "x86_64-linux").mkdir(parents=True)
    (toolkit / "set_env.sh").write_text("export FACEID_TEST_CANN_SET=1\n")
    p = _cann(tmp_path, ASCEND_HOME=str(tmp_path / "Ascend"))
    assert p.returncode == 1 and "not a CANN toolkit (no lib64/libascendcl.so)" in p.stderr
    (toolkit / "lib64").mkdir()
    (toolkit / "lib64" / "libascendcl.so").write_bytes(b"")
    (toolkit / "x86_64-linux" / "ascend_toolkit_install.info").write_text("package_name=Ascend-cann-toolkit\n"
                                                                           "version=8.0.RC2\n")
    for env in ({"ASCEND_HOME": str(tmp_path / "Ascend")}, {"ASCEND_TOOLKIT_HOME": str(toolkit)}):
        p = _cann(tmp_path, **env)
        assert p.returncode == 0, p.stderr
        assert f"CANN: {toolkit} (version 8.0.RC2)" in p.stdout
        assert f"SET=1 HOME={toolkit} LD={toolkit}/lib64" in p.stdout  # set_env.sh sourced, lib64 first

    from common.core.doctor import ascend_toolkit, cann_version  # the doctor's search finds the same folder

    assert ascend_toolkit({"ASCEND_HOME": str(tmp_path / "Ascend")}) == str(toolkit)
    assert cann_version(str(toolkit)) == "8.0.RC2"


def test_harness_runs_a_dynamic_onnx_in_batches(tiny, tmp_path):
    """export --batch_size dynamic (ONNX) -> run_infer_310.sh CPU with BATCH_SIZE=3 on 5 images: two Predict
    calls (3 + 2 padded), the embeddings equal the numpy forward of the images prepared here."""
    import cv2

    from common.deploy import infer310

    if not os.path.isfile(os.path.join(ROOT, "ascend310_infer", "build", "faceid_convert")):
        pytest.skip("the C++ harness is not built here (bash ascend310_infer/build.sh)")
    path = _export(tiny, tmp_path, "ONNX", "dynamic")
    rng = np.random.default_rng(5)
    data = tmp_path / "images"
    data.mkdir()
    imgs = rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    for i, img in enumerate(imgs):
        cv2.imwrite(str(data / f"img{i}.png"), img[:, :, ::-1])  # stored BGR: the sidecar reads it back as RGB
    p = _harness(path, data, tmp_path, "CPU", BATCH_SIZE="3")
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    work = tmp_path / "work"
    assert "batch_size=3 batches=2 inputs=5" in (work / "latency.txt").read_text()
    stems, _ = infer310.read_manifest(str(work / "input" / "manifest.tsv"))
    got = infer310.read_outputs(str(work / "result"), stems, 8)
    x = imgs.astype(np.float32).transpose(0, 3, 1, 2)  # mean 0, std 1, no resize: the pixels as they are
    want = numpy_forward(tiny[1], x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
