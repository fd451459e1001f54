"""Train PFE: the uncertainty module on a frozen base backbone, MLS loss, P identities x K images per batch.

    python pfe/train.py --base_ckpt BASE.ckpt --train_root CASIA_DIR [--config pfe/configs/pfe_sphere64_casia.yaml]
                        [--key value ...]

BASE.ckpt is a checkpoint of pfe/train_base.py (or any checkpoint holding the SphereNet as backbone.*).
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common.env  # noqa: E402,F401  (CPU speed default before mindspore loads)

from common.config import load_config  # noqa: E402
from common.data.folder import load_training_set  # noqa: E402
from common.data.pk_dataset import build_pk_epoch_dataset  # noqa: E402
from common.data.transforms import Preprocess  # noqa: E402
from common.train import session  # noqa: E402
from common.train.loop import fit  # noqa: E402
from pfe.src.model import PFEWithLoss, build_pfe  # noqa: E402

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "pfe_sphere64_casia.yaml")


def pk_data(cfg, paths, labels, preprocess, rank, world):
    """-> (dataset_fn(epoch, skip) -> (dataset, steps), steps per epoch).

    Without ``steps_per_epoch`` an epoch is one pass of the P x K sampler over the identities. With it (the
    official recipe: 1000 steps) epoch ``e`` is global batches [e * S, (e + 1) * S) of the endless sequence of
    sampler passes, so the schedule and resume positions are in those steps.
    """
    P, K = int(cfg.classes_per_batch), int(cfg.images_per_class)
    seed, workers = cfg.get("seed", 0), cfg.get("workers", 2)

    def one_pass(index, skip):
        return build_pk_epoch_dataset(paths, labels, preprocess, P, K, index, seed, rank, world, skip, workers)

    _, per_pass = one_pass(0, 0)
    fixed = cfg.get("steps_per_epoch")
    if not fixed:
        return one_pass, per_pass
    fixed = int(fixed)

    def dataset_fn(epoch, skip):
        start, end = epoch * fixed + skip, (epoch + 1) * fixed
        data, batch = None, start
        while batch < end:
            index, offset = divmod(batch, per_pass)
            piece, steps = one_pass(index, offset)
            take = min(steps, end - batch)
            piece = piece.take(take) if take < steps else piece
            data = piece if data is None else data + piece
            batch += take
        return data, fixed - skip

    return dataset_fn, fixed


def main(argv=None):
    cfg = load_config(DEFAULT_CONFIG, argv)
    if not cfg.get("base_ckpt"):
        raise SystemExit("error: --base_ckpt CKPT is required (the base SphereNet checkpoint; train one with "
                         "pfe/train_base.py)")
    if not os.path.isfile(cfg.base_ckpt):
        raise SystemExit(f"error: base checkpoint not found: {cfg.base_ckpt}")
    rank, world, log = session.start(cfg)
    pre = Preprocess.from_config(cfg.preprocess)
    paths, labels, classes = load_training_set(cfg.get("train_root"), cfg.get("train_list"))
    if cfg.get("num_classes") and int(cfg.num_classes) != len(classes):
        raise SystemExit(f"error: config num_classes={cfg.num_classes} but the training data "
                         f"({cfg.get('train_list') or cfg.get('train_root')}) has {len(classes)} identities")
    cfg.batch_size = int(cfg.classes_per_batch) * int(cfg.images_per_class)
    dataset_fn, steps = pk_data(cfg, paths, labels, pre, rank, world)
    net = build_pfe(cfg, cfg.base_ckpt)
    log(f"PFE on {cfg.backbone} from {cfg.base_ckpt}: {len(labels)} images, {len(classes)} identities, "
        f"batches of {cfg.classes_per_batch}x{cfg.images_per_class}, {steps} steps/epoch on rank {rank}/{world}; "
        f"training {sum(p.size for p in net.trainable_params())} uncertainty parameters, backbone frozen")
    result = fit(cfg, PFEWithLoss(net), net.trainable_params(), dataset_fn, steps, len(classes),
                 amp_cells=[net.backbone], rank=rank, world=world, printer=log)
    log(f"PFE training done: final MLS loss {result['loss']:.4f}, checkpoint {result['checkpoint']}")
    result["net"] = net
    return result


if __name__ == "__main__":
    main()
