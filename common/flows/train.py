"""The train flow of every model: config -> device, ranks, logs -> data -> backbone + recipe loss -> fit."""
from common import distributed
from common.config import load_config
from common.errors import FaceIdError
from common.data.transforms import Preprocess
from common.flows.data import source_name, training_data
from common.nets import build_backbone
from common.train import session
from common.train.loop import fit
from common.train.verification import VerificationCallback


def load(recipe, argv=None):
    """The training config of ``recipe`` from ``argv`` (recipe-specific option handling included)."""
    pk = recipe.data == "pk"
    cfg = load_config(recipe.default_config, argv, command="train", prog=f"{recipe.name}/train.py",
                      extra_keys=("batch_size",) if pk else ())
    if cfg.get("train_csv") and not pk:
        raise FaceIdError(f"--train_csv: {recipe.name} trains on image batches; give --train_root DIR or "
                          f"--train_list FILE (the CSV of the old FaceNet zoo feeds P x K training)")
    if recipe.prepare_train:
        recipe.prepare_train(cfg)
    if pk:  # images per step, for the progress line
        cfg.batch_size = int(cfg.classes_per_batch) * int(cfg.images_per_class)
    return cfg


def run(recipe, argv=None, cfg=None):
    """Train ``recipe`` as ``argv`` says; returns fit()'s result (loss, checkpoint, steps, verification)."""
    cfg = cfg or load(recipe, argv)
    rank, world, log = session.start(cfg)
    pre = Preprocess.from_config(cfg.preprocess)
    labels, classes, dataset_fn, steps, bad = training_data(recipe, cfg, pre, rank, world)
    backbone = build_backbone(cfg)
    net_with_loss, params = recipe.build_train(cfg, backbone, len(classes))
    verify = VerificationCallback(cfg, recipe.build_inference(cfg, backbone), pre, rank, log)
    scale = distributed.lr_scale(cfg, world)
    batch = (f"{cfg.classes_per_batch} x {cfg.images_per_class}" if recipe.data == "pk" else str(cfg.batch_size))
    log(f"{recipe.name} ({cfg.backbone}{' + ' + cfg.head if cfg.get('head') else ''}): {len(labels)} images, "
        f"{len(classes)} identities, {steps} steps/epoch of {batch} on rank {rank}/{world} from {source_name(cfg)}, "
        f"lr {cfg.lr} x {scale:g}")
    result = fit(cfg, net_with_loss, params, dataset_fn, steps, len(classes), amp_cells=[backbone],
                 rank=rank, world=world, lr_scale=scale, printer=log,
                 on_epoch_end=verify.on_epoch_end if verify else None,
                 on_step_end=verify.on_step_end if verify else None)
    result["verification"] = verify.history
    result["backbone"] = backbone
    session.report(log, result, bad)
    if recipe.train_extras:
        recipe.train_extras(cfg, net_with_loss, result, log)
    return result

