"""C++ inference (ascend310_infer/) == Python eval, end to end, for LightCNN-9 and CosFace-MobileFaceNet.

Per model: a freshly built backbone is saved as a checkpoint, exported with the model's export.py (which writes the
sidecar <file>.json), run through the model's run_infer_310.sh on CPU (sidecar preprocessing -> ONNX ->
faceid_convert -> Lite -> faceid_infer -> common/deploy/infer310_post.py) on tiny synthetic LFW-format data, and compared
with the Python network (embeddings, 1e-4) and with the model's Python eval script (LFW metrics in result.json,
1e-6). LightCNN is exported with a preprocessing override that the C++ path must follow. Skipped, with the reason, where cmake/g++ or MindSpore
Lite cannot be installed. The ONNX folding and postprocess pieces are checked without the build.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from common.deploy import infer310
from common.deploy import infer310_post
from common.deploy import onnx_fold
from common.recipes import contract as recipe
from common.core.errors import FaceIdError
from common.core.env import set_device  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, GLOG_v="3", PYTHON=sys.executable)
METRICS = ("pairs", "images", "embedding_dim", "accuracy_mean", "accuracy_std", "auc", "100%-EER",
           "TPR@FAR=1%", "TPR@FAR=0.1%", "TPR@FAR=0%", "threshold@FAR=1%", "fold_accuracies", "fold_thresholds")


def _run(args, cwd, env=None):
    run = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env or ENV)
    assert run.returncode == 0, " ".join(map(str, args)) + "\n" + run.stdout[-3000:] + run.stderr[-3000:]
    return run


# ---------------------------------------------------------------- models: how to build, export and eval each

# LightCNN-9 at 64x64 gray; its YAML says mean 0 / std 255 but the export is given another preprocessing on the
# command line (as a training run with --preprocess would have used): the C++ path must follow the export's
# sidecar, not the YAML. CosFace with its own MobileFaceNet recipe YAML (112x112 RGB). Both read 80x80 images.
OVERRIDE = "{channels: 1, resize: 72, crop: 64, mean: 60.0, std: 90.0, flip: true}"
MODELS = {
    "lightcnn9": dict(folder="lightcnn", over=["--preprocess", OVERRIDE],
                      yaml="base: {root}/lightcnn/configs/lightcnn9.yaml\nbackbone_args: {{input_size: [1, 64, 64]}}\n"
                           "preprocess: {{channels: 1, resize: 72, crop: 64, mean: 0.0, std: 255.0}}\n"),
    "cosface_mobilefacenet": dict(folder="cosface", over=[],
                                  yaml="base: {root}/cosface/configs/cosface_mobilefacenet_casia.yaml\n"),
}


# ---------------------------------------------------------------- fixtures



@pytest.fixture(scope="module")
def lfw_data(tmp_path_factory):
    """20 identities x 4 images (80x80) + pairs.txt with 10 folds x 10 same / 10 different pairs."""
    out = tmp_path_factory.mktemp("synthetic")
    _run([sys.executable, "-m", "common.data.synthetic", str(out), "--train_ids", "2", "--train_images", "2",
          "--test_ids", "20", "--test_images", "4", "--pairs_per_fold", "10", "--size", "80"], cwd=ROOT)
    return str(out / "test")


def _model_setup(name, tmp, formats):
    """Config file, checkpoint of a fresh backbone, and the export(s) with the model's export.py."""
    import mindspore as ms
    from common.core.config import load_config
    from common.nets import build_backbone

    spec = MODELS[name]
    cfg_path = tmp / f"{name}.yaml"
    cfg_path.write_text(spec["yaml"].format(root=ROOT))
    cfg = load_config(str(cfg_path), list(spec["over"]))
    recipe.get(cfg.model)  # registers the model folder's backbones
    set_device("CPU")
    ms.set_seed(0)
    ckpt = str(tmp / f"{name}.ckpt")
    ms.save_checkpoint(build_backbone(cfg), ckpt)
    for fmt in formats:
        _run([sys.executable, os.path.join(ROOT, spec["folder"], "export.py"), "--config", str(cfg_path),
              "--ckpt_file", ckpt, "--file_format", fmt, "--file_name", str(tmp / name)] + spec["over"], cwd=str(tmp))
    return spec, cfg, str(cfg_path), ckpt


def _python_embeddings(cfg, ckpt, images, preprocess=None):
    """The Python network on the same images (its own load of the checkpoint)."""
    import mindspore as ms
    from common.data.transforms import Preprocess
    from common.nets import build_backbone
    from common.train.checkpoint import load_weights

    net = build_backbone(cfg)
    load_weights(net, ckpt)
    net.set_train(False)
    pre = Preprocess.from_config(preprocess or cfg.preprocess)
    x = np.stack([pre.eval_array(p) for p in images])
    return np.concatenate([net(ms.Tensor(x[i:i + 40])).asnumpy() for i in range(0, len(x), 40)])


def _python_eval(spec, cfg_path, ckpt, data, out):
    _run([sys.executable, os.path.join(ROOT, spec["folder"], "eval.py"), "--config", cfg_path, "--ckpt_file", ckpt,
          "--data_root", data, "--flip", "false", "--out_dir", str(out / "py")] + spec["over"], cwd=str(out))
    return out / "py" / "eval" / f"{os.path.basename(data)}.lfw_result.json"


def _check_end_to_end(name, model_file, tmp, lfw_data, spec, cfg, cfg_path, ckpt):
    elsewhere = tmp / "cwd"  # the wrapper works from any directory; WORK_DIR defaults to ./infer_310
    elsewhere.mkdir()
    run = _run(["bash", os.path.join(ROOT, spec["folder"], "run_infer_310.sh"), model_file, lfw_data, "0", "CPU"],
               cwd=str(elsewhere))
    work = elsewhere / "infer_310"
    stems, images = infer310.read_manifest(str(work / "input" / "manifest.tsv"))
    assert len(images) == 80 and images == sorted(images)
    got = infer310.read_outputs(str(work / "result"), stems, infer310_post.output_dim(str(work / "result"), stems))
    ref = _python_embeddings(cfg, ckpt, images)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
    # and relative to the embedding scale (a random-init MobileFaceNet's embeddings are ~1e-6 in size)
    scale = float(np.abs(ref).max())
    assert scale > 0 and np.abs(got - ref).max() <= 1e-4 * scale
    np.testing.assert_array_equal(np.load(work / "embeddings.npy"), got)

    cpp = json.loads((work / "result.json").read_text())
    py = json.loads(_python_eval(spec, cfg_path, ckpt, lfw_data, tmp).read_text())
    for key in METRICS:
        if key in py:
            np.testing.assert_allclose(cpp[key], py[key], atol=1e-6, rtol=0, err_msg=key)
    assert cpp["pairs"] == 200 and cpp["flip"] is False and cpp["model"] == cfg.model
    assert cpp["export"]["checkpoint"]["path"] == os.path.abspath(ckpt)
    assert (work / "result_roc.png").stat().st_size > 0
    assert cpp["latency"]["inputs"] == 80 and cpp["latency"]["mean_batch_ms"] > 0
    print(f"\n{name}: max |C++ - Python| = {np.abs(got - ref).max():.2e} "
          f"({np.abs(got - ref).max() / scale:.2e} of max |embedding|); "
          f"accuracy C++ {cpp['accuracy_mean']:.4f} / Python {py['accuracy_mean']:.4f}; "
          f"CPU latency {cpp['latency']['mean_batch_ms']:.2f} ms per image (batch 1)")
    return run, got


# ---------------------------------------------------------------- end to end

def test_lightcnn9_cpp_follows_the_exported_preprocessing(harness, lfw_data, tmp_path):
    """Export MINDIR and ONNX (same stem) with a preprocessing override; the wrapper, given the .mindir on CPU, runs
    the sibling .onnx prepared as its sidecar says: equal to the Python network with the override, unlike the
    YAML's preprocessing."""
    import cv2

    spec, cfg, cfg_path, ckpt = _model_setup("lightcnn9", tmp_path, ("MINDIR", "ONNX"))
    assert cfg.preprocess["mean"] == 60.0
    run, got = _check_end_to_end("lightcnn9", str(tmp_path / "lightcnn9.mindir"), tmp_path, lfw_data, spec, cfg,
                                 cfg_path, ckpt)
    assert "using the sibling" in run.stdout and str(tmp_path / "lightcnn9.onnx") in run.stdout
    # independent check of the preprocessing the harness was fed: gray, shorter side to 72 (area), centre 64,
    # (x - 60) / 90 -- the override, not the YAML's x / 255
    work = tmp_path / "cwd" / "infer_310"
    stems, images = infer310.read_manifest(str(work / "input" / "manifest.tsv"))
    img = cv2.imread(images[5], cv2.IMREAD_GRAYSCALE)
    img = cv2.resize(img, (72, 72), interpolation=cv2.INTER_AREA)[4:68, 4:68]
    np.testing.assert_allclose(np.fromfile(work / "input" / f"{stems[5]}.bin", np.float32),
                               (img.astype(np.float32).ravel() - 60.0) / 90.0, atol=1e-6)
    # what the YAML's preprocessing would give differs: the test above can fail
    yaml_pre = {"channels": 1, "resize": 72, "crop": 64, "mean": 0.0, "std": 255.0}
    assert np.abs(_python_embeddings(cfg, ckpt, images, yaml_pre) - got).max() > 100 * np.abs(got).max() * 1e-4


def test_cosface_mobilefacenet_cpp_equals_python_eval(harness, lfw_data, tmp_path):
    """A margin-family model (MobileFaceNet: PReLU, depthwise conv, BN), 112x112 RGB, from its ONNX export."""
    spec, cfg, cfg_path, ckpt = _model_setup("cosface_mobilefacenet", tmp_path, ("ONNX",))
    _check_end_to_end("cosface_mobilefacenet", str(tmp_path / "cosface_mobilefacenet.onnx"), tmp_path, lfw_data,
                      spec, cfg, cfg_path, ckpt)


def test_mindir_without_onnx_on_cpu_says_what_is_needed(harness, lfw_data, tmp_path):
    """A MindSpore MINDIR (with its sidecar) but no sibling .onnx: one clear line that CPU needs the ONNX file."""
    import mindspore as ms
    from mindspore import nn

    set_device("CPU")
    net = nn.SequentialCell(nn.Conv2d(1, 2, 3), nn.Flatten())
    ms.export(net, ms.Tensor(np.zeros((1, 1, 64, 64), np.float32)), file_name=str(tmp_path / "only"),
              file_format="MINDIR")
    (tmp_path / "only.mindir.json").write_text(json.dumps({
        "preprocess": {"channels": 1, "resize": 72, "crop": 64, "mean": 0.0, "std": 255.0},
        "input": {"shape": [1, 1, 64, 64]}, "outputs": [{"name": "y", "meaning": "embedding"}]}))
    run = subprocess.run(["bash", os.path.join(ROOT, "lightcnn", "run_infer_310.sh"), str(tmp_path / "only.mindir"),
                          lfw_data, "0", "CPU"], cwd=str(tmp_path), capture_output=True, text=True, env=ENV)
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {tmp_path / 'only.mindir'} (written by MindSpore") and "cannot be loaded" in last
    assert f"{tmp_path / 'only.onnx'} exists" in last


# ---------------------------------------------------------------- pieces (no build needed)

def _onnx_model(opset):
    """y = PRelu(x, Unsqueeze(slope)) + Reshape(bias, shape): the shape ops take only initializers."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "slope"),
             numpy_helper.from_array(rng.standard_normal(12).astype(np.float32), "bias"),
             numpy_helper.from_array(np.array([1, 3, 2, 2], np.int64), "shape")]
    if opset >= 13:
        inits.append(numpy_helper.from_array(np.array([1, 2], np.int64), "axes"))
        unsq = helper.make_node("Unsqueeze", ["slope", "axes"], ["slope3"])
    else:
        unsq = helper.make_node("Unsqueeze", ["slope"], ["slope3"], axes=[1, 2])
    nodes = [unsq, helper.make_node("PRelu", ["x", "slope3"], ["p"]),
             helper.make_node("Reshape", ["bias", "shape"], ["b4"]), helper.make_node("Add", ["p", "b4"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 2, 2])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize("opset", [11, 13])
def test_onnx_fold_keeps_outputs_and_leaves_no_shape_ops(tmp_path, opset):
    import onnx
    import onnxruntime as ort

    onnx.save(_onnx_model(opset), str(tmp_path / "a.onnx"))
    assert onnx_fold.fold_file(str(tmp_path / "a.onnx"), str(tmp_path / "b.onnx")) == 2
    folded = onnx.load(str(tmp_path / "b.onnx"))
    assert [n.op_type for n in folded.graph.node] == ["PRelu", "Add"]
    assert {t.name for t in folded.graph.initializer} == {"slope3", "b4"}
    x = np.random.default_rng(1).standard_normal((1, 3, 2, 2)).astype(np.float32)
    slope = onnx.numpy_helper.to_array(_onnx_model(opset).graph.initializer[0]).reshape(3, 1, 1)
    bias = onnx.numpy_helper.to_array(_onnx_model(opset).graph.initializer[1]).reshape(1, 3, 2, 2)
    expected = np.where(x >= 0, x, x * slope) + bias  # numpy PReLU, independent of both graphs
    for name in ("a.onnx", "b.onnx"):
        sess = ort.InferenceSession(str(tmp_path / name), providers=["CPUExecutionProvider"])
        np.testing.assert_allclose(sess.run(None, {"x": x})[0], expected, atol=1e-6)
    (tmp_path / "bad.onnx").write_bytes(b"not onnx")
    with pytest.raises(FaceIdError, match=r"bad\.onnx: not a readable ONNX model"):
        onnx_fold.fold_file(str(tmp_path / "bad.onnx"), str(tmp_path / "c.onnx"))


def _fake_harness_run(tmp_path, emb, names):
    """Dataset of empty image files + manifest + <stem>.bin outputs, as run_infer_310.sh leaves them."""
    data, work = tmp_path / "data", tmp_path / "work"
    paths = []
    for n in names:
        (data / n).parent.mkdir(parents=True, exist_ok=True)
        (data / n).write_bytes(b"")
        paths.append(str(data / n))
    infer310.preprocess(paths, lambda p: np.zeros((1, 1, 1), np.float32), str(work / "input"))
    stems, _ = infer310.read_manifest(str(work / "input" / "manifest.tsv"))
    (work / "result").mkdir()
    for stem, row in zip(stems, emb):
        row.astype(np.float32).tofile(work / "result" / f"{stem}.bin")
    return data, work


def test_postprocess_scores_lfw_folder_like_brute_force(tmp_path):
    """10 folds x (1 same + 1 different): accuracy / AUC against a direct numpy + sklearn computation."""
    from sklearn.metrics import roc_auc_score

    ids = [f"p{k}" for k in range(20)]
    names = [f"{p}/{p}_{i:04d}.jpg" for p in ids for i in (1, 2)] + ["extra/extra_0001.jpg"]  # extra: not paired
    rng = np.random.default_rng(4)
    centers = rng.standard_normal((20, 8))
    emb = np.concatenate([np.repeat(centers, 2, axis=0) + 0.8 * rng.standard_normal((40, 8)),
                          rng.standard_normal((1, 8))])
    data, work = _fake_harness_run(tmp_path, emb, names)
    lines, first, second, same = ["10\t1"], [], [], []
    for k in range(10):
        a, b = ids[2 * k], ids[2 * k + 1]
        lines += [f"{a}\t1\t2", f"{a}\t1\t{b}\t2"]
        first += [names.index(f"{a}/{a}_0001.jpg")] * 2
        second += [names.index(f"{a}/{a}_0002.jpg"), names.index(f"{b}/{b}_0002.jpg")]
        same += [True, False]
    (data / "pairs.txt").write_text("\n".join(lines) + "\n")
    logs = []
    out = infer310_post.postprocess(str(work / "input" / "manifest.tsv"), str(work / "result"), str(data),
                                    log=logs.append)
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    scores = np.sum(e[first] * e[second], axis=1)
    assert out["pairs"] == 20 and out["images"] == 30 and out["embedding_dim"] == 8
    assert out["auc"] == pytest.approx(roc_auc_score(same, scores), abs=1e-9)
    # brute-force 10-fold: threshold maximising accuracy on the other 9 folds, tried at every score
    accs = []
    for k in range(10):
        test = np.arange(20) // 2 == k
        u = np.unique(scores[~test])
        cands = np.r_[u[0], (u[:-1] + u[1:]) / 2]  # accept-all, then every midpoint; first best = smallest
        train_acc = [np.mean((scores[~test] >= t) == np.array(same)[~test]) for t in cands]
        t = cands[int(np.argmax(train_acc))]
        accs.append(np.mean((scores[test] >= t) == np.array(same)[test]))
    assert out["accuracy_mean"] == pytest.approx(np.mean(accs), abs=1e-9)
    saved = json.loads((work / "result.json").read_text())
    assert saved["accuracy_mean"] == out["accuracy_mean"] and (work / "result_roc.png").exists()
    np.testing.assert_array_equal(np.load(work / "embeddings.npy"), emb.astype(np.float32))
    assert (work / "images.txt").read_text().split() == names


def test_postprocess_errors_name_the_file(tmp_path):
    names = ["a/a_0001.jpg", "a/a_0002.jpg"]
    data, work = _fake_harness_run(tmp_path, np.ones((2, 4)), names)
    (data / "pairs.txt").write_text("1\t1\na\t1\t3\na\t1\tb\t1\n")
    with pytest.raises(FaceIdError, match=r"pairs\.txt: names 2 image\(s\) the harness did not embed, e\.g\. a/a_0003"):
        infer310_post.postprocess(str(work / "input" / "manifest.tsv"), str(work / "result"), str(data), log=print)
    (work / "result" / "000000.bin").write_bytes(b"\0" * 6)
    with pytest.raises(FaceIdError, match=r"000000\.bin: 6 bytes is not a whole number of float32 values"):
        infer310_post.postprocess(str(work / "input" / "manifest.tsv"), str(work / "result"), str(data), log=print)
    # no pairs.txt: embeddings only
    (data / "pairs.txt").unlink()
    np.ones(4, np.float32).tofile(work / "result" / "000000.bin")
    assert infer310_post.postprocess(str(work / "input" / "manifest.tsv"), str(work / "result"), str(data),
                                     log=print) is None
    assert np.load(work / "embeddings.npy").shape == (2, 4)
