"""PFE's recipe: an uncertainty module on a frozen base backbone, MLS loss on P x K batches; inference gives
(mu, sigma^2). Eval scores LFW-format folders with cosine and MLS side by side, and templates fused by
precision-weighted mean (src/evaluation.py). The base model (backbone + CosFace head) is BASE_RECIPE."""
import os

from common.core.errors import FaceIdError
from common.recipes.margin import margin_recipe
from common.recipes.contract import Recipe, register
from pfe.src.evaluation import run_lfw, run_templates
from pfe.src.model import PFEExportNet, PFEMu, PFEWithLoss, build_pfe, load_pfe

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def prepare_train(cfg):
    if not cfg.get("base_ckpt"):
        raise FaceIdError("--base_ckpt CKPT is required (the base SphereNet checkpoint: train one with "
                          "pfe/train_base.py, or import published weights with python -m common.import_weights)")
    if not os.path.isfile(cfg.base_ckpt):
        raise FaceIdError(f"base checkpoint not found: {cfg.base_ckpt}")


def build_train(cfg, backbone, num_classes):
    net = build_pfe(cfg, cfg.base_ckpt, backbone)
    return PFEWithLoss(net), net.trainable_params()


def build_inference(cfg, backbone):
    return PFEExportNet(build_pfe(cfg, backbone=backbone))


def load_inference(cfg, ckpt):
    return PFEExportNet(load_pfe(cfg, ckpt))


def report(cfg, net, result, log):
    log(f"PFE training done: final MLS loss {result['loss']:.4f}, checkpoint {result['checkpoint']}")


RECIPE = register(Recipe(
    name="pfe", default_config=os.path.join(CONFIGS, "pfe_sphere64_casia.yaml"), build_train=build_train,
    data="pk", build_inference=build_inference, load_inference=load_inference, outputs=("mu", "sigma_sq"),
    embedding_of=PFEMu, prepare_train=prepare_train, train_extras=report,
    eval_extras={"lfw": run_lfw, "templates": run_templates},
    flip=False, flip_note="MLS needs one (mu, sigma^2) per image; cosine and MLS are scored on the image itself"))


def base_done(cfg, net, result, log):
    log(f"base checkpoint for pfe/train.py --base_ckpt: {result['checkpoint']}")


BASE_RECIPE = margin_recipe("pfe", os.path.join(CONFIGS, "base_sphere64_cosface.yaml"), train_extras=base_done)
