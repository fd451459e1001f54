"""pfe/eval.py and pfe/export.py end to end on a tiny PFE checkpoint and tiny LFW-format demo pairs.

The scores are recomputed here independently (mu, sigma^2 from the Python network, cosine and MLS by explicit
loops, AUC by scikit-learn) and compared with the JSON; the exported ONNX / MINDIR files are run with
onnxruntime / MindSpore and compared with the Python network on both outputs.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from common.core.config import load_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_PFE = os.path.join(ROOT, "pfe", "configs", "demo.yaml")
TINY = ["--backbone", "spherenet20", "--backbone_args", "{embedding_size: 16, widths: [4, 8, 8, 8]}"]


def _run(args, cwd):
    return subprocess.run([sys.executable] + args, cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Tiny test pairs and a PFE checkpoint of a seeded, untrained tiny network (with non-trivial BN stats)."""
    import mindspore as ms

    from common.data.synthetic import generate
    from pfe.src.model import build_pfe

    tmp = tmp_path_factory.mktemp("pfe_eval")
    _, test_dir = generate(str(tmp / "data"), train_ids=1, train_images=1, test_ids=20, test_images=4, size=112,
                           seed=5, pairs_per_fold=5, log=lambda *_: None)
    ms.set_seed(1)
    net = build_pfe(load_config(DEMO_PFE, TINY))
    rng = np.random.default_rng(0)
    # make the uncertainty vary with the input; gamma 0.1 keeps sigma^2 in float32 range (1e-6..16 on the
    # 112x96-resized test faces, < 1e3 on random inputs; gamma 1 overflows float32 to inf on the resized faces)
    for bn in (net.uncertainty.bn1, net.uncertainty.bn2):
        bn.moving_mean.set_data(ms.Tensor(rng.normal(0, 0.01, bn.moving_mean.shape).astype(np.float32)))
        bn.moving_variance.set_data(ms.Tensor(rng.uniform(1e-4, 1e-3, bn.moving_variance.shape).astype(np.float32)))
    net.uncertainty.gamma.set_data(ms.Tensor(0.1, ms.float32))
    ckpt = str(tmp / "pfe_tiny.ckpt")
    ms.save_checkpoint(net, ckpt)
    return {"tmp": tmp, "test": test_dir, "ckpt": ckpt}


def _reference(setup):
    """(names in pairs order, issame, mu and sigma^2 per pair side) from the Python network, image by image."""
    import mindspore as ms

    from common.data.transforms import Preprocess
    from pfe.src.model import load_pfe
    from pfe.src.pfe_net import PFEExportNet

    cfg = load_config(DEMO_PFE, TINY)
    net = PFEExportNet(load_pfe(cfg, setup["ckpt"]))
    pre = Preprocess.from_config(cfg.preprocess)
    lines = open(os.path.join(setup["test"], "pairs.txt")).read().split("\n")[1:]
    cache, pairs = {}, []

    def embed(name, n):
        path = os.path.join(setup["test"], name, f"{name}_{int(n):04d}.jpg")
        if path not in cache:
            mu, s = net(ms.Tensor(pre.eval_array(path)[None]))
            cache[path] = (mu.asnumpy()[0].astype(np.float64), s.asnumpy()[0].astype(np.float64))
        return cache[path]

    for line in filter(None, lines):
        f = line.split()
        a, b = (embed(f[0], f[1]), embed(f[0], f[2])) if len(f) == 3 else (embed(f[0], f[1]), embed(f[2], f[3]))
        pairs.append((a, b, len(f) == 3))
    return pairs


def test_eval_reports_cosine_and_mls_side_by_side(setup, tmp_path):
    from sklearn.metrics import roc_auc_score

    stem = tmp_path / "res" / "eval" / f"{os.path.basename(setup['test'])}.lfw_result"
    p = _run([os.path.join(ROOT, "pfe", "eval.py"), "--config", DEMO_PFE, "--ckpt_file", setup["ckpt"],
              "--data_root", setup["test"], "--out_dir", str(tmp_path / "res"), "--eval_batch_size", "16"] + TINY,
             cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    result = json.loads(open(f"{stem}.json").read())
    assert os.path.isfile(f"{stem}_roc.png")
    assert len(result["roc"]) == 2 and result["pairs"] == 100
    pairs = _reference(setup)
    issame = np.array([s for _, _, s in pairs])
    cos, mls = [], []
    for (mu1, s1), (mu2, s2), _ in pairs:
        cos.append(sum(x * y for x, y in zip(mu1, mu2)) / np.sqrt(sum(x * x for x in mu1) * sum(y * y for y in mu2)))
        mls.append(-sum((x - y) ** 2 / (u + v) + np.log(u + v) for x, y, u, v in zip(mu1, mu2, s1, s2)))
    for name, scores in (("cosine", cos), ("mls", mls)):
        assert abs(result[name]["auc"] - roc_auc_score(issame, scores)) < 1e-3, name
        assert 0 <= result[name]["accuracy_mean"] <= 1 and len(result[name]["fold_accuracies"]) == 10
    assert result["mls"]["auc"] != result["cosine"]["auc"]  # sigma^2 varies, so MLS is not a cosine re-ranking
    assert "cosine: accuracy" in p.stdout and "mls: accuracy" in p.stdout


def test_eval_errors_are_one_line(setup, tmp_path):
    p = _run([os.path.join(ROOT, "pfe", "eval.py"), "--config", DEMO_PFE, "--data_root", setup["test"],
              "--resume", setup["ckpt"], "--max_steps", "3"] + TINY, cwd=tmp_path)
    assert p.returncode != 0 and p.stderr.strip().splitlines()[-1].startswith("error: --max_steps is an option of train.py")
    bad = tmp_path / "pairs.txt"
    bad.write_text("2\t1\nnobody\t1\t2\nnobody\t1\tother\t1\nnobody\t1\t2\nnobody\t2\tother\t1\n")
    p = _run([os.path.join(ROOT, "pfe", "eval.py"), "--config", DEMO_PFE, "--data_root", setup["test"],
              "--pairs", str(bad), "--ckpt_file", setup["ckpt"]] + TINY, cwd=tmp_path)
    last = p.stderr.strip().splitlines()[-1]
    assert p.returncode != 0 and last.startswith("error: ") and str(bad) in last and "missing" in last


@pytest.mark.parametrize("fmt", ["ONNX", "MINDIR"])
def test_export_mu_and_sigma(setup, tmp_path, fmt):
    import mindspore as ms
    from mindspore import nn

    from pfe.src.model import load_pfe
    from pfe.src.pfe_net import PFEExportNet

    name = str(tmp_path / "pfe_tiny")
    p = _run([os.path.join(ROOT, "pfe", "export.py"), "--config", DEMO_PFE, "--ckpt_file", setup["ckpt"],
              "--file_format", fmt, "--file_name", name, "--batch_size_export", "2"] + TINY, cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert "max |exported - Python|" in p.stdout
    x = np.random.default_rng(7).normal(size=(2, 3, 112, 96)).astype(np.float32)
    mu, s = PFEExportNet(load_pfe(load_config(DEMO_PFE, TINY), setup["ckpt"]))(ms.Tensor(x))
    if fmt == "ONNX":
        import onnxruntime as ort

        sess = ort.InferenceSession(name + ".onnx", providers=["CPUExecutionProvider"])
        got = sess.run(None, {sess.get_inputs()[0].name: x})
    else:
        got = [o.asnumpy() for o in nn.GraphCell(ms.load(name + ".mindir"))(ms.Tensor(x))]
    assert len(got) == 2
    np.testing.assert_allclose(got[0], mu.asnumpy(), atol=1e-5)
    np.testing.assert_allclose(got[1], s.asnumpy(), rtol=1e-4, atol=1e-9)
    assert (got[1] > 0).all() and np.allclose(np.linalg.norm(got[0], axis=1), 1, atol=1e-5)
