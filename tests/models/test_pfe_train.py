"""PFE training through pfe/train_base.py and pfe/train.py on tiny synthetic faces (SphereNet-20, small widths).

The chain runs once per module: base (SphereNet-20 + CosFace) -> PFE (frozen base, MLS loss). Checked: the
backbone in the PFE checkpoint is bit-identical to the base checkpoint's, the uncertainty module trained, the
paper's claim (blurred + noisy faces get a larger sigma^2 than their clean originals), the recipe YAML
(lr 1e-3 -> 1e-4 at step 2000 of 3000, weight decay 5e-4 on the uncertainty FC weights only) and the
P x K epochs made of several sampler passes.
"""
import os

import cv2
import numpy as np
import pytest

from common.core.errors import FaceIdError

from common.core.config import load_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PFE_YAML = os.path.join(ROOT, "pfe", "configs", "pfe_sphere64_casia.yaml")
DEMO_BASE = os.path.join(ROOT, "pfe", "configs", "demo_base.yaml")
DEMO_PFE = os.path.join(ROOT, "pfe", "configs", "demo.yaml")
TINY = ["--backbone", "spherenet20", "--backbone_args", "{embedding_size: 32, widths: [8, 16, 16, 16]}"]


def _params(path, strip=""):
    """Checkpoint arrays by name, ``strip`` removed from the front (the PFE loss cell holds the net as ``net.``)."""
    import mindspore as ms

    return {k[len(strip):] if k.startswith(strip) else k: v.asnumpy() for k, v in ms.load_checkpoint(path).items()}


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Tiny data, a base trained by train_base.py, then PFE trained by train.py (all in this process)."""
    from common.data.synthetic import generate
    from pfe import train, train_base

    tmp = tmp_path_factory.mktemp("pfe_chain")
    train_dir, test_dir = generate(str(tmp / "data"), train_ids=16, train_images=8, test_ids=20, test_images=5,
                                   size=112, seed=3, pairs_per_fold=8, log=lambda *_: None)
    base = train_base.main(["--config", DEMO_BASE, "--train_root", train_dir, "--out_dir", str(tmp / "base"),
                            "--batch_size", "16", "--epochs", "10", "--lr", "0.1", "--head_args", "{s: 16.0, m: 0.1}",
                            "--workers", "1", "--log_every", "8"] + TINY)
    pfe = train.main(["--config", DEMO_PFE, "--train_root", train_dir, "--out_dir", str(tmp / "pfe"),
                      "--base_ckpt", base["checkpoint"], "--classes_per_batch", "4", "--images_per_class", "4",
                      "--steps_per_epoch", "30", "--epochs", "2", "--lr", "3e-3", "--workers", "1",
                      "--log_every", "10"] + TINY)
    return {"tmp": tmp, "train": train_dir, "test": test_dir, "base": base["checkpoint"], "pfe": pfe["checkpoint"],
            "pfe_loss": pfe["loss"]}


def test_backbone_frozen_through_train_py(chain):
    base, pfe = _params(chain["base"]), _params(chain["pfe"], "net.")
    backbone = {k: v for k, v in base.items() if k.startswith("backbone.") and "moments" not in k}
    assert len(backbone) > 20
    for name, value in backbone.items():
        assert name in pfe, f"{name} missing from the PFE checkpoint"
        np.testing.assert_array_equal(pfe[name], value, err_msg=name)  # weights and BN moving statistics
    # the uncertainty module did train: scalar affine moved off its init, BN statistics updated
    assert abs(float(pfe["uncertainty.beta"]) - (-7.0)) > 1e-4
    assert abs(float(pfe["uncertainty.gamma"]) - 1e-4) > 1e-7
    assert np.abs(pfe["uncertainty.bn1.moving_mean"]).max() > 0
    assert np.isfinite(chain["pfe_loss"])


def _degrade(img, rng):
    blurred = cv2.GaussianBlur(img, (0, 0), 3.0)
    noisy = blurred.astype(np.float32) + rng.normal(0, 20, img.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def test_degraded_faces_get_larger_sigma(chain):
    """The paper's central claim on unseen test identities: blur + noise raise the predicted variance."""
    from common.data.transforms import Preprocess
    from common.evaluation.embed import extract_arrays
    from pfe.src.model import PFEConcat, load_pfe, split_concat

    cfg = load_config(DEMO_PFE, TINY)
    net = load_pfe(cfg, chain["pfe"])
    pre = Preprocess.from_config(cfg.preprocess)
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(chain["test"]) for f in fs if f.endswith(".jpg"))
    rng = np.random.default_rng(0)
    images = [pre.load(f) for f in files]
    clean = np.stack([pre.eval_image(im) for im in images])
    degraded = np.stack([pre.eval_image(_degrade(im, rng)) for im in images])
    _, s_clean = split_concat(extract_arrays(PFEConcat(net), clean, 50))
    _, s_degr = split_concat(extract_arrays(PFEConcat(net), degraded, 50))
    per_image_clean, per_image_degr = s_clean.mean(axis=1), s_degr.mean(axis=1)
    print(f"mean sigma^2 clean {per_image_clean.mean():.4g}, degraded {per_image_degr.mean():.4g}, "
          f"larger for {np.mean(per_image_degr > per_image_clean) * 100:.0f}% of {len(files)} images")
    assert (s_clean > 0).all() and (s_degr > 0).all()
    assert per_image_degr.mean() > per_image_clean.mean()
    assert np.mean(per_image_degr > per_image_clean) > 0.6


def test_recipe_schedule_and_weight_decay():
    from common.train.lr import lr_from_config
    from common.train.optim import param_groups
    from pfe.src.model import build_pfe

    cfg = load_config(PFE_YAML, [])
    assert (cfg.classes_per_batch, cfg.images_per_class, cfg.momentum, cfg.optimizer) == (64, 4, 0.9, "sgd")
    assert cfg.backbone == "spherenet64" and cfg.preprocess["resize"] == [112, 96]
    lr = lr_from_config(cfg, cfg.steps_per_epoch)
    assert len(lr) == 3000
    np.testing.assert_allclose(lr[:2000], 1e-3, rtol=1e-6)
    np.testing.assert_allclose(lr[2000:], 1e-4, rtol=1e-6)

    tiny = load_config(PFE_YAML, TINY)
    net = build_pfe(tiny)
    trainable = {p.name for p in net.trainable_params()}
    assert trainable and all(n.startswith("uncertainty.") for n in trainable)
    decay = {p.name: g["weight_decay"] for g in param_groups(net.trainable_params(), 1e-3, tiny.weight_decay,
                                                             tiny.param_groups) for p in g["params"]}
    assert decay.pop("uncertainty.fc1.weight") == 5e-4 and decay.pop("uncertainty.fc2.weight") == 5e-4
    assert decay and all(v == 0 for v in decay.values())


def test_fixed_steps_per_epoch_chain_sampler_passes(chain):
    """Epoch e of S steps = global batches [e*S, (e+1)*S) of the endless sequence of P x K passes."""
    from common.data.folder import load_training_set
    from common.data.pk_dataset import pk_plan
    from common.data.transforms import Preprocess
    from common.data.assembly import pk_data

    cfg = load_config(DEMO_PFE, TINY + ["--classes_per_batch", "4", "--images_per_class", "2",
                                        "--steps_per_epoch", "6", "--workers", "1"])
    cfg.train_root = chain["train"]
    paths, labels, _ = load_training_set(chain["train"])
    labels = np.asarray(labels)
    _, _, dataset_fn, steps, _ = pk_data(cfg, Preprocess.from_config(cfg.preprocess), 0, 1)
    assert steps == 6
    # independent: the global batch sequence, pass by pass (16 identities / 4 = 4 batches per pass)
    expected = [labels[b] for p in range(5) for b in pk_plan(labels, 4, 2, p, cfg.seed)]
    for epoch, skip in ((0, 0), (1, 0), (1, 4), (2, 1)):
        data, n = dataset_fn(epoch, skip)
        got = [y.asnumpy() for _, y in data.create_tuple_iterator()]
        assert n == 6 - skip == len(got)
        for k, y in enumerate(got):
            np.testing.assert_array_equal(y, expected[epoch * 6 + skip + k])


def test_missing_base_checkpoint_is_one_line_error(tmp_path):
    from pfe import train

    with pytest.raises(FaceIdError) as exc:
        train.main(["--config", DEMO_PFE, "--train_root", str(tmp_path)])
    assert "--base_ckpt" in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(FaceIdError) as exc:
        train.main(["--config", DEMO_PFE, "--train_root", str(tmp_path), "--base_ckpt", str(tmp_path / "no.ckpt"),
                    "--out_dir", str(tmp_path / "out")] + TINY)
    assert "no.ckpt" in str(exc.value) and "\n" not in str(exc.value)
