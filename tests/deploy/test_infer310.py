"""C++ inference harness (ascend310_infer/) and its Python side (common/deploy/infer310.py).

The harness tests build it (cached in ascend310_infer/build/), export a small conv + MFM + dense net to
ONNX, convert it with faceid_convert, run faceid_infer on CPU and compare with the Python network.
They skip, with the reason, where cmake/g++ or the MindSpore Lite libraries cannot be installed.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from common.deploy import infer310
from common.core.env import set_device  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "ascend310_infer", "build")
ENV = dict(os.environ, GLOG_v="3")


# ---------------------------------------------------------------- Python side (no build needed)

def test_preprocess_writes_chw_float32_in_order(tmp_path):
    paths = [str(tmp_path / f"img{k}.png") for k in (3, 1, 2)]
    fn = lambda p: np.full((1, 2, 3), float(os.path.basename(p)[3]), np.float32)  # noqa: E731
    stems = infer310.preprocess(paths, fn, str(tmp_path / "in"))
    assert stems == ["000000", "000001", "000002"]
    for stem, value in zip(stems, (3.0, 1.0, 2.0)):
        data = np.fromfile(tmp_path / "in" / f"{stem}.bin", np.float32)
        assert data.shape == (6,) and np.all(data == value)
    assert (tmp_path / "in" / "inputs.txt").read_text().split() == [s + ".bin" for s in stems]
    got_stems, got_images = infer310.read_manifest(str(tmp_path / "in" / "manifest.tsv"))
    assert got_stems == stems and got_images == [os.path.abspath(p) for p in paths]


def test_preprocess_stem_naming_and_errors(tmp_path):
    fn = lambda p: np.zeros((1, 2, 2), np.float32)  # noqa: E731
    assert infer310.preprocess(["a/x.jpg", "b/y.jpg"], fn, str(tmp_path / "s"), naming="stem") == ["x", "y"]
    with pytest.raises(ValueError, match="b/x.jpg: file stem 'x' repeats"):
        infer310.preprocess(["a/x.jpg", "b/x.jpg"], fn, str(tmp_path / "d"), naming="stem")
    with pytest.raises(ValueError, match="expected float32 CHW"):
        infer310.preprocess(["a.jpg"], lambda p: np.zeros((2, 2), np.float64), str(tmp_path / "e"))
    shapes = iter([(1, 2, 2), (1, 3, 3)])
    with pytest.raises(ValueError, match="b.jpg: preprocessed shape"):
        infer310.preprocess(["a.jpg", "b.jpg"], lambda p: np.zeros(next(shapes), np.float32), str(tmp_path / "f"))


def test_read_outputs_follows_given_order_and_checks_files(tmp_path):
    rows = {"b": np.arange(4, dtype=np.float32), "a": -np.arange(4, dtype=np.float32)}
    for stem, row in rows.items():
        row.tofile(tmp_path / f"{stem}.bin")
    got = infer310.read_outputs(str(tmp_path), ["b", "a", "b"], 4)
    np.testing.assert_array_equal(got, np.stack([rows["b"], rows["a"], rows["b"]]))
    with pytest.raises(ValueError, match=r"c\.bin: output file missing"):
        infer310.read_outputs(str(tmp_path), ["a", "c"], 4)
    np.zeros(3, np.float32).tofile(tmp_path / "short.bin")
    with pytest.raises(ValueError, match=r"short\.bin: 12 bytes, expected 16"):
        infer310.read_outputs(str(tmp_path), ["short"], 4)


def test_list_images_dir_sorted_and_list_file(tmp_path):
    for rel in ("b/2.jpg", "a/9.png", "a/10.jpg", "b/notes.txt"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    expected = sorted(["a/10.jpg", "a/9.png", "b/2.jpg"])
    assert infer310.list_images(str(tmp_path)) == [str(tmp_path / r) for r in expected]
    (tmp_path / "list.txt").write_text("b/2.jpg 0\n\na/9.png 1\n")
    assert infer310.list_images(str(tmp_path / "list.txt")) == [str(tmp_path / "b/2.jpg"), str(tmp_path / "a/9.png")]
    with pytest.raises(ValueError, match="no such image directory or list file"):
        infer310.list_images(str(tmp_path / "nope"))


def test_read_latency(tmp_path):
    (tmp_path / "lat.txt").write_text("device_target=CPU batch_size=4 mean_batch_ms=1.5\n")
    assert infer310.read_latency(str(tmp_path / "lat.txt")) == {
        "device_target": "CPU", "batch_size": 4.0, "mean_batch_ms": 1.5}


# ---------------------------------------------------------------- C++ harness



def _tiny_net(weights):
    """conv -> MFM (split + max) -> maxpool -> strided conv -> MFM -> flatten -> dense(16); 1x32x32 input."""
    import mindspore as ms
    from mindspore import nn, ops

    class Tiny(nn.Cell):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(1, 8, 3, pad_mode="pad", padding=1, has_bias=True)
            self.c2 = nn.Conv2d(4, 8, 3, stride=2, pad_mode="pad", padding=1, has_bias=True)
            self.pool = nn.MaxPool2d(2, 2)
            self.fc = nn.Dense(4 * 8 * 8, 16)

        @staticmethod
        def mfm(x):
            a, b = ops.split(x, x.shape[1] // 2, axis=1)
            return ops.maximum(a, b)

        def construct(self, x):
            x = self.pool(self.mfm(self.c1(x)))
            x = self.mfm(self.c2(x))
            return self.fc(ops.flatten(x))

    net = Tiny()
    for p, w in zip(net.trainable_params(), weights or []):
        p.set_data(ms.Tensor(w))
    return net


@pytest.fixture(scope="module")
def models(harness, tmp_path_factory):
    """Static-batch-4 and dynamic-batch ONNX exports, converted to Lite; plus the Python reference net."""
    import mindspore as ms
    import mindspore.onnx

    set_device("CPU")
    d = tmp_path_factory.mktemp("models")
    rng = np.random.default_rng(7)
    shapes = [p.shape for p in _tiny_net(None).trainable_params()]
    weights = [(rng.standard_normal(s) * 0.3).astype(np.float32) for s in shapes]
    mindspore.onnx.export(_tiny_net(weights), ms.Tensor(np.zeros((4, 1, 32, 32), np.float32)),
                          file_name=str(d / "static.onnx"))
    mindspore.onnx.export(_tiny_net(weights), ms.Tensor(np.zeros((1, 1, 32, 32), np.float32)),
                          file_name=str(d / "dynamic.onnx"), input_names=["x"], dynamic_axes={"x": {0: "n"}})
    out = {"dir": d, "ref": _tiny_net(weights)}
    for name in ("static", "dynamic"):
        run = subprocess.run([os.path.join(harness, "faceid_convert"), str(d / f"{name}.onnx"), str(d / f"{name}_lite")],
                             capture_output=True, text=True, env=ENV)
        assert run.returncode == 0, run.stderr[-2000:]
        out[name] = str(d / f"{name}_lite.mindir")
    return out


def _infer(*args):
    return subprocess.run([os.path.join(BUILD, "faceid_infer"), *args], capture_output=True, text=True, env=ENV)


def _reference(models, x):
    import mindspore as ms
    return models["ref"](ms.Tensor(x)).asnumpy()


def test_static_batch_matches_python_with_padding(models, tmp_path):
    x = np.random.default_rng(1).standard_normal((6, 1, 32, 32)).astype(np.float32)
    for i in range(6):
        x[i].tofile(tmp_path / f"img_{i}.bin")
    run = _infer("--model_path", models["static"], "--input_dir", str(tmp_path), "--output_dir", str(tmp_path / "out"),
                 "--device_target", "CPU")
    assert run.returncode == 0, run.stderr[-2000:]
    got = infer310.read_outputs(str(tmp_path / "out"), [f"img_{i}" for i in range(6)], 16)
    np.testing.assert_allclose(got, _reference(models, x), atol=1e-4, rtol=0)
    lat = infer310.read_latency(str(tmp_path / "out" / "latency.txt"))
    assert (lat["batch_size"], lat["batches"], lat["inputs"]) == (4, 2, 6)  # 6 inputs = 4 + 2 padded
    assert lat["mean_batch_ms"] > 0 and lat["device_target"] == "CPU"


def test_dynamic_batch_and_input_list_order(models, tmp_path):
    x = np.random.default_rng(2).standard_normal((7, 1, 32, 32)).astype(np.float32)
    order = [5, 0, 6, 2, 1, 4, 3]
    for i in range(7):
        x[i].tofile(tmp_path / f"{i:02d}.bin")
    (tmp_path / "list.txt").write_text("".join(f"{i:02d}.bin\n" for i in order))
    run = _infer("--model_path", models["dynamic"], "--input_list", str(tmp_path / "list.txt"),
                 "--output_dir", str(tmp_path / "out"), "--batch_size", "3", "--latency_file", str(tmp_path / "lat.txt"))
    assert run.returncode == 0, run.stderr[-2000:]
    got = infer310.read_outputs(str(tmp_path / "out"), [f"{i:02d}" for i in range(7)], 16)
    np.testing.assert_allclose(got, _reference(models, x), atol=1e-4, rtol=0)
    lat = infer310.read_latency(str(tmp_path / "lat.txt"))
    assert (lat["batch_size"], lat["batches"]) == (3, 3)


def test_missing_model_fails_clearly(harness, tmp_path):
    np.zeros((1, 32, 32), np.float32).tofile(tmp_path / "a.bin")
    run = _infer("--model_path", str(tmp_path / "none.mindir"), "--input_dir", str(tmp_path),
                 "--output_dir", str(tmp_path / "out"))
    assert run.returncode != 0
    assert run.stderr.strip().splitlines()[-1] == f"error: {tmp_path / 'none.mindir'}: model file not found"


def test_wrong_input_size_fails_before_writing(models, tmp_path):
    np.zeros((1, 32, 32), np.float32).tofile(tmp_path / "a.bin")
    np.zeros((1, 32, 31), np.float32).tofile(tmp_path / "b.bin")
    run = _infer("--model_path", models["static"], "--input_dir", str(tmp_path), "--output_dir", str(tmp_path / "out"))
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {tmp_path / 'b.bin'}: input file has {32 * 31 * 4} bytes")
    assert f"needs {32 * 32 * 4}" in last
    assert not (tmp_path / "out").exists()


def test_bad_flags_and_bad_onnx(harness, tmp_path):
    run = _infer("--model_path", "m", "--input_dir", "d", "--output_dir", "o", "--device_target", "TPU")
    assert run.returncode == 2 and "error: --device_target must be Ascend, GPU or CPU, got 'TPU'" in run.stderr
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    run = subprocess.run([os.path.join(harness, "faceid_convert"), str(tmp_path / "bad.onnx"), str(tmp_path / "o")],
                         capture_output=True, text=True, env=ENV)
    assert run.returncode == 1 and f"error: {tmp_path / 'bad.onnx'}: conversion failed" in run.stderr


def test_run_infer_310_script_end_to_end(models, tmp_path):
    import cv2

    rng = np.random.default_rng(3)
    imgs = rng.integers(0, 256, (3, 32, 32), dtype=np.uint8)
    for i, img in enumerate(imgs):
        (tmp_path / "data" / f"p{i}").mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "data" / f"p{i}" / "face.png"), img)
    import json
    import shutil

    model = tmp_path / "static.onnx"
    shutil.copy(models["dir"] / "static.onnx", model)
    (tmp_path / "post.py").write_text(
        "import argparse, numpy as np\nfrom common.deploy import infer310\n"
        "p = argparse.ArgumentParser(); [p.add_argument(a) for a in "
        "('--manifest', '--result_dir', '--dataset_path', '--model', '--sidecar')]\na = p.parse_args()\n"
        "stems, _ = infer310.read_manifest(a.manifest)\n"
        f"np.save({str(tmp_path / 'emb.npy')!r}, infer310.read_outputs(a.result_dir, stems, 16))\n")
    env = dict(ENV, POSTPROCESS=str(tmp_path / "post.py"), WORK_DIR=str(tmp_path / "work"), PYTHON=sys.executable)
    script = os.path.join(ROOT, "scripts", "run_infer_310.sh")
    # a model file without its sidecar: refused in one line, with the command that writes one
    run = subprocess.run(["bash", script, str(model), str(tmp_path / "data"), "0", "CPU"], capture_output=True,
                         text=True, env=env)
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {model}: no sidecar static.onnx.json") and "export.py --ckpt_file" in last
    (tmp_path / "static.onnx.json").write_text(json.dumps({
        "preprocess": {"channels": 1, "crop": 32, "mean": 127.5, "std": 128.0},
        "input": {"shape": [4, 1, 32, 32]}, "outputs": [{"name": "out", "meaning": "embedding"}]}))
    run = subprocess.run(["bash", script, str(model), str(tmp_path / "data"), "0", "CPU"], capture_output=True,
                         text=True, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "CPU: converting ONNX to a MindSpore Lite model" in run.stdout
    x = ((imgs.astype(np.float32) - 127.5) / 128.0)[:, None]  # p0, p1, p2: sorted folder order
    np.testing.assert_allclose(np.load(tmp_path / "emb.npy"), _reference(models, x), atol=1e-4, rtol=0)
