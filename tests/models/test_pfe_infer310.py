"""PFE through the C++ path: export (mu, sigma^2) -> pfe/run_infer_310.sh on CPU -> cosine and MLS like pfe/eval.py.

A tiny seeded PFE network (SphereNet-20 at a few channels, BN statistics varied so sigma^2 depends on the image) is
exported to ONNX with pfe/export.py (two outputs, named in the sidecar), converted to MindSpore Lite and run by the
real faceid_infer build, which writes <stem>_0.bin and <stem>_1.bin per image. Checked against: the Python network
on the same images (both outputs), MLS and cosine AUCs recomputed here by explicit loops and scikit-learn, and the
JSON of pfe/eval.py on the same data (every metric to 1e-6). Skipped, with the reason, where cmake/g++ or MindSpore
Lite cannot be installed (see conftest.harness).
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from common.deploy import infer310
from common.core.config import load_config
from common.core.env import set_device

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_PFE = os.path.join(ROOT, "pfe", "configs", "demo.yaml")
TINY = ["--backbone", "spherenet20", "--backbone_args", "{embedding_size: 16, widths: [4, 8, 8, 8]}"]
ENV = dict(os.environ, GLOG_v="3", PYTHON=sys.executable)
METRICS = ("accuracy_mean", "accuracy_std", "auc", "100%-EER", "TPR@FAR=1%", "TPR@FAR=0.1%", "fold_accuracies",
           "fold_thresholds")


def _run(args, cwd):
    run = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=ENV)
    assert run.returncode == 0, " ".join(map(str, args)) + "\n" + run.stdout[-3000:] + run.stderr[-3000:]
    return run


@pytest.fixture(scope="module")
def pfe_export(harness, tmp_path_factory):
    import mindspore as ms

    from common.recipes import contract as recipe
    from common.data.synthetic import generate
    from pfe.src.model import build_pfe

    tmp = tmp_path_factory.mktemp("pfe_cpp")
    _, test_dir = generate(str(tmp / "data"), train_ids=1, train_images=1, test_ids=20, test_images=3, size=112,
                           seed=5, pairs_per_fold=5, log=lambda *_: None)
    recipe.get("pfe")
    set_device("CPU")
    ms.set_seed(1)
    net = build_pfe(load_config(DEMO_PFE, TINY))
    rng = np.random.default_rng(0)
    for bn in (net.uncertainty.bn1, net.uncertainty.bn2):  # make the uncertainty vary with the input
        bn.moving_mean.set_data(ms.Tensor(rng.normal(0, 0.01, bn.moving_mean.shape).astype(np.float32)))
        bn.moving_variance.set_data(ms.Tensor(rng.uniform(1e-4, 1e-3, bn.moving_variance.shape).astype(np.float32)))
    net.uncertainty.gamma.set_data(ms.Tensor(1.0, ms.float32))
    ckpt = str(tmp / "pfe_tiny.ckpt")
    ms.save_checkpoint(net, ckpt)
    _run([sys.executable, os.path.join(ROOT, "pfe", "export.py"), "--config", DEMO_PFE, "--ckpt_file", ckpt,
          "--file_format", "ONNX", "--file_name", str(tmp / "pfe_tiny")] + TINY, cwd=str(tmp))
    return {"tmp": tmp, "test": test_dir, "ckpt": ckpt, "onnx": str(tmp / "pfe_tiny.onnx")}


def _python_outputs(ckpt, images):
    """(mu, sigma^2) of the Python PFE network on ``images`` (its own load of the checkpoint)."""
    import mindspore as ms

    from common.data.transforms import Preprocess
    from pfe.src.model import load_pfe
    from pfe.src.pfe_net import PFEExportNet

    cfg = load_config(DEMO_PFE, TINY)
    net = PFEExportNet(load_pfe(cfg, ckpt))
    pre = Preprocess.from_config(cfg.preprocess)
    mu, s = net(ms.Tensor(np.stack([pre.eval_array(p) for p in images])))
    return mu.asnumpy(), s.asnumpy()


def test_pfe_cpp_two_outputs_scored_like_pfe_eval(pfe_export, tmp_path):
    from sklearn.metrics import roc_auc_score

    meta = json.loads(open(pfe_export["onnx"] + ".json").read())
    assert [o["meaning"] for o in meta["outputs"]] == ["mu", "sigma_sq"]
    run = _run(["bash", os.path.join(ROOT, "pfe", "run_infer_310.sh"), pfe_export["onnx"], pfe_export["test"], "0",
                "CPU"], cwd=str(tmp_path))
    work = tmp_path / "infer_310"
    stems, images = infer310.read_manifest(str(work / "input" / "manifest.tsv"))
    assert len(images) == 60
    # the harness wrote both outputs per input, and their names
    assert (work / "result" / f"{stems[0]}_0.bin").is_file() and (work / "result" / f"{stems[0]}_1.bin").is_file()
    assert not (work / "result" / f"{stems[0]}.bin").exists()
    assert len((work / "result" / "outputs.txt").read_text().split("\n")) >= 2
    mu, s = np.load(work / "embeddings.npy"), np.load(work / "sigma_sq.npy")
    ref_mu, ref_s = _python_outputs(pfe_export["ckpt"], images)
    np.testing.assert_allclose(mu, ref_mu, atol=1e-4 * max(1.0, np.abs(ref_mu).max()), rtol=0)
    np.testing.assert_allclose(s, ref_s, rtol=1e-3, atol=0)
    assert np.std(np.log(ref_s).mean(axis=1)) > 0  # sigma^2 depends on the image: MLS is not cosine re-ranked

    cpp = json.loads((work / "result.json").read_text())
    # independent: scores by explicit formulas from the raw outputs, AUC by scikit-learn
    row = {os.path.relpath(p, pfe_export["test"]): i for i, p in enumerate(images)}
    lines = [ln.split() for ln in open(os.path.join(pfe_export["test"], "pairs.txt")).read().split("\n")[1:] if ln]
    cos, mls, same = [], [], []
    for f in lines:
        a, b = ((f[0], f[1]), (f[0], f[2])) if len(f) == 3 else ((f[0], f[1]), (f[2], f[3]))
        i, j = (row[f"{n}/{n}_{int(k):04d}.jpg"] for n, k in (a, b))
        u, v = mu[i].astype(np.float64), mu[j].astype(np.float64)
        cos.append(u @ v / np.linalg.norm(u) / np.linalg.norm(v))
        fused = s[i].astype(np.float64) + s[j]
        mls.append(-np.sum((u - v) ** 2 / fused + np.log(fused)))
        same.append(len(f) == 3)
    assert cpp["pairs"] == len(lines) == 100
    assert abs(cpp["cosine"]["auc"] - roc_auc_score(same, cos)) < 1e-3
    assert abs(cpp["mls"]["auc"] - roc_auc_score(same, mls)) < 1e-3
    assert cpp["model"] == "pfe" and cpp["export"]["checkpoint"]["path"] == pfe_export["ckpt"]
    assert "mls:" in run.stdout and "cosine:" in run.stdout

    # the Python eval on the same data and checkpoint gives the same numbers
    _run([sys.executable, os.path.join(ROOT, "pfe", "eval.py"), "--config", DEMO_PFE, "--ckpt_file",
          pfe_export["ckpt"], "--data_root", pfe_export["test"], "--out_dir", str(tmp_path / "py")] + TINY,
         cwd=str(tmp_path))
    py = json.loads((tmp_path / "py" / "eval" / f"{os.path.basename(pfe_export['test'])}.lfw_result.json").read_text())
    for kind in ("cosine", "mls"):
        for key in METRICS:
            if key in py[kind]:  # thresholds are scores (MLS ~ -1e5 here): float32 outputs agree to ~1e-6 of them
                tol = dict(atol=0, rtol=1e-5) if "threshold" in key else dict(atol=1e-6, rtol=0)
                np.testing.assert_allclose(cpp[kind][key], py[kind][key], err_msg=f"{kind} {key}", **tol)
    assert abs(cpp["mean_sigma_sq"] - py["mean_sigma_sq"]) <= 1e-3 * abs(py["mean_sigma_sq"])
