"""A real third-party ONNX face model through ``--onnx`` (runs only when ``FACEID_REAL_WEIGHTS=DIR`` holds it).

``DIR/mobilefacenet.onnx``: a public copy of foamliu/MobileFaceNet's export (MS-Celeb-1M, publisher's LFW 99.48;
e.g. hyeonjunchoi/AutoTracking_RassibarryPi ``mobilefacenet.onnx``, sha256 0c9ad2a8...f64a4): a layout no zoo net
has (ReLU6, 51 convolutions), 112x112 RGB input with ImageNet mean/std. ``cosface/eval.py --onnx`` on the 14 real
photos (aligned by ``common.align --template arcface112``) must give the embeddings an independent ONNX Runtime
session computes on the same crops with preprocessing written here, and every same-person pair must score above
every different-person pair.
"""
import os

import numpy as np
import pytest

from tests.helpers import PY, ROOT, run

WEIGHTS = os.environ.get("FACEID_REAL_WEIGHTS", "")
MODEL = os.path.join(WEIGHTS, "mobilefacenet.onnx")
pytestmark = pytest.mark.skipif(not WEIGHTS or not os.path.isfile(MODEL),
                                reason="set FACEID_REAL_WEIGHTS=DIR holding foamliu's mobilefacenet.onnx to run")
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def test_real_onnx_eval_equals_onnxruntime(tmp_path, capsys):
    import cv2
    import onnxruntime as ort

    from tests.tools.test_real_weights import cosines, lfw_folder, saved_embeddings

    root, where = lfw_folder(tmp_path, "arcface112")
    out = tmp_path / "eval"
    pre = f"{{channels: 3, resize: [112, 112], mean: {MEAN}, std: {STD}}}"
    p = run([PY, os.path.join(ROOT, "cosface", "eval.py"), "--onnx", MODEL, "--preprocess", pre,
             "--data_root", str(root), "--out_dir", str(out), "--save_embeddings", "true", "--flip", "false"])
    emb, names, paths = saved_embeddings(out, where)
    sess = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
    batch = np.stack([((cv2.cvtColor(cv2.imread(q), cv2.COLOR_BGR2RGB).astype(np.float64) - MEAN) / STD)
                      .transpose(2, 0, 1) for q in paths]).astype(np.float32)
    ref = sess.run(None, {sess.get_inputs()[0].name: batch})[0].reshape(len(paths), -1)
    err = float(np.max(np.abs(emb - ref)) / np.abs(ref).max())
    same, diff = cosines(ref, names)
    with capsys.disabled():
        print(f"\n[foamliu onnx] {len(paths)} faces: max relative |zoo - ORT| {err:.2e}; cosine same-person "
              f"{len(same)} pairs min {min(same):.3f} mean {np.mean(same):.3f}, different-person {len(diff)} pairs "
              f"max {max(diff):.3f} mean {np.mean(diff):.3f}")
    assert err < 1e-4
    assert min(same) > max(diff)
    assert p.returncode == 0
