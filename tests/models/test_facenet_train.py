"""FaceNet end to end on tiny synthetic data: train (CLI, graph mode), evaluate, export.

Inception-ResNet-v1 runs at 80x80 here instead of 160 (the network accepts inputs from 75 up; at 160 a step is
~2.5x slower), 4 identities x 4 images per batch, 20 steps, batch-hard mining (from the near-collapsed random
initialisation semi-hard mining learns too slowly for 20 steps). Checks, each against an independent computation:
- the triplet loss (brute force numpy over every valid triplet) on training images falls;
- 10-fold accuracy and AUC on unseen identities' pairs beat the untrained network, and eval.py's AUC equals
  sklearn's on cosine similarities of the embeddings computed here;
- the exported MINDIR / ONNX reproduce the Python embedding (unit rows) and AIR is refused off Ascend.
Evaluation runs in PyNative mode (no graph compile: faster for a hundred images).
"""
import json
import os
import re

import mindspore as ms
import numpy as np
import pytest

from tests.helpers import PY, ROOT, make_data, run

DEMO = os.path.join(ROOT, "facenet", "configs", "demo.yaml")
PRE = "{channels: 3, resize: 88, crop: 80, mean: 127.5, std: 128.0, flip: true}"
NET = "{embedding_size: 512, dropout_prob: 0.2, input_size: [3, 80, 80]}"  # Inception-ResNet-v1 at the 80x80 crop
MARGIN = 0.2


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("facenet")
    make_data(tmp / "data", train_ids=40, train_images=6, test_ids=20, test_images=5, size=88, pairs_per_fold=15)
    out = tmp / "run"
    p = run([PY, os.path.join(ROOT, "facenet", "train.py"), "--config", DEMO,
             "--train_root", str(tmp / "data" / "train"), "--out_dir", str(out), "--preprocess", PRE, "--backbone_args", NET,
             "--classes_per_batch", "4", "--images_per_class", "4",
             "--epochs", "2", "--log_every", "1", "--workers", "1", "--save_every_steps", "0", "--keep_ckpt", "1",
             "--mining", "batch_hard"],
            cwd=str(tmp))
    ckpts = sorted((out / "ckpt").glob("facenet_demo-e2-s20.ckpt"))
    assert len(ckpts) == 1, p.stdout[-2000:]
    mode = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    yield {"tmp": tmp, "data": tmp / "data", "ckpt": str(ckpts[0]), "log": p.stdout}
    ms.set_context(mode=mode)


def _cfg(**over):
    from common.core.config import load_config

    argv = ["--preprocess", PRE, "--backbone_args", NET]
    for k, v in over.items():
        argv += [f"--{k}", str(v)]
    return load_config(DEMO, argv, command="eval")


def _embed(ckpt, paths):
    from common.data.transforms import Preprocess
    from common.evaluation.embed import extract
    from common.core.runtime import seed_everything
    from common.recipes.load import inference_net
    from facenet.src.recipe import RECIPE

    cfg = _cfg()
    seed_everything(cfg.seed)  # eval.py's untrained net: same seed, same initialisation
    net = inference_net(RECIPE, cfg, ckpt)
    return extract(net, [str(p) for p in paths], Preprocess.from_config(cfg.preprocess), 64, disable=True)


def _triplet_loss_numpy(emb, labels):
    """Mean hinge over every (a, p, n) with a != p same identity, n another: plain loops on squared L2."""
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    d = ((e[:, None, :] - e[None, :, :]) ** 2).sum(-1)
    hinges = [max(d[a, p] - d[a, n] + MARGIN, 0.0)
              for a in range(len(e)) for p in range(len(e)) for n in range(len(e))
              if a != p and labels[a] == labels[p] and labels[a] != labels[n]]
    return float(np.mean(hinges))


def test_training_log_and_loss_falls(trained):
    losses = [float(x) for x in re.findall(r"loss ([0-9.]+) lr", trained["log"])]
    assert len(losses) == 20 and all(np.isfinite(losses))
    assert "40 identities, 10 steps/epoch of 4 x 4" in trained["log"]
    train = trained["data"] / "train"
    ids = sorted(os.listdir(train))[:12]
    paths = [train / i / f for i in ids for f in sorted(os.listdir(train / i))[:4]]
    labels = np.repeat(np.arange(len(ids)), 4)
    before = _triplet_loss_numpy(_embed(None, paths), labels)
    after = _triplet_loss_numpy(_embed(trained["ckpt"], paths), labels)
    assert after < 0.85 * before, (before, after)


def _read_pairs(path):
    """LFW pairs.txt by hand: 3 fields = same person, 4 = different."""
    lines = open(path).read().split("\n")[1:]
    pairs = []
    for line in lines:
        f = line.split()
        if len(f) == 3:
            pairs.append((f"{f[0]}/{f[0]}_{int(f[1]):04d}.jpg", f"{f[0]}/{f[0]}_{int(f[2]):04d}.jpg", True))
        elif len(f) == 4:
            pairs.append((f"{f[0]}/{f[0]}_{int(f[1]):04d}.jpg", f"{f[2]}/{f[2]}_{int(f[3]):04d}.jpg", False))
    return pairs


def test_unseen_pairs_beat_untrained_and_match_sklearn(trained):
    from sklearn.metrics import roc_auc_score

    test = trained["data"] / "test"
    res = {}
    for name, extra in (("untrained", []), ("trained", ["--ckpt_file", trained["ckpt"]])):
        out = trained["tmp"] / f"eval_{name}"
        run([PY, os.path.join(ROOT, "facenet", "eval.py"), "--config", DEMO, "--preprocess", PRE, "--backbone_args", NET, "--graph_mode",
             "false", "--flip", "false", "--data_root", str(test), "--out_dir", str(out)] + extra, cwd=str(trained["tmp"]))
        res[name] = json.load(open(out / "eval" / "test.lfw_result.json"))
        assert (out / "eval" / "test.lfw_result_roc.png").is_file()
    assert res["trained"]["pairs"] == 300
    assert res["trained"]["accuracy_mean"] > res["untrained"]["accuracy_mean"] + 0.03, res
    assert res["trained"]["auc"] > res["untrained"]["auc"] + 0.05
    pairs = _read_pairs(test / "pairs.txt")
    names = sorted({p for a, b, _ in pairs for p in (a, b)})
    emb = _embed(trained["ckpt"], [test / n for n in names])
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    row = {n: i for i, n in enumerate(names)}
    cos = [float(e[row[a]] @ e[row[b]]) for a, b, _ in pairs]
    assert res["trained"]["auc"] == pytest.approx(roc_auc_score([s for _, _, s in pairs], cos), abs=1e-3)


def _export(trained, *args, check=True):
    return run([PY, os.path.join(ROOT, "facenet", "export.py"), "--config", DEMO, "--preprocess", PRE, "--backbone_args", NET,
                "--graph_mode", "false"] + list(args), cwd=str(trained["tmp"]), check=check)


@pytest.mark.parametrize("fmt", ["MINDIR", "ONNX"])
def test_export_parity(trained, fmt):
    from common.deploy.export import run_exported
    from common.recipes.load import inference_net
    from facenet.src.recipe import RECIPE

    name = str(trained["tmp"] / f"facenet_{fmt.lower()}")
    p = _export(trained, "--ckpt_file", trained["ckpt"], "--file_format", fmt, "--file_name", name,
                "--batch_size_export", "2")
    diff = float(re.search(r"max \|exported - Python\| = (\S+)", p.stdout).group(1))
    path = name + {"MINDIR": ".mindir", "ONNX": ".onnx"}[fmt]
    assert os.path.isfile(path) and diff <= 1e-4
    x = np.random.default_rng(1).standard_normal((2, 3, 80, 80)).astype(np.float32)
    y = run_exported(path, x)[0]
    net = inference_net(RECIPE, _cfg(), trained["ckpt"])
    net.set_train(False)
    np.testing.assert_allclose(y, net(ms.Tensor(x)).asnumpy(), atol=1e-4)  # this process's own reference
    assert y.shape == (2, 512)
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-5)  # the L2-normalised embedding


def test_air_refused_and_missing_checkpoint(trained):
    p = _export(trained, "--ckpt_file", trained["ckpt"], "--file_format", "AIR", "--file_name",
                str(trained["tmp"] / "x"), check=False)
    assert p.returncode != 0 and "AIR export needs the Ascend backend" in p.stderr
    p = _export(trained, check=False)
    assert p.returncode != 0 and "--ckpt_file CKPT is required" in p.stderr
