"""Train FaceNet (Inception-ResNet-v1 or the old zoo's ResNet-50/FC128) with triplet loss mined in P x K batches.

    python facenet/train.py --train_root DATA/train [--config facenet/configs/facenet_vggface2.yaml] [--key value ...]

Each batch holds ``classes_per_batch`` (P) identities x ``images_per_class`` (K) images; the triplet loss
(``margin``, ``mining: semi_hard | batch_hard``) is computed on the L2-normalised embeddings of that batch.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common.env  # noqa: E402,F401  (CPU speed default before mindspore loads)

from common.config import load_config  # noqa: E402
from common.data.dataset import BadImages  # noqa: E402
from common.data.folder import load_training_set  # noqa: E402
from common.data.pk_dataset import build_pk_epoch_dataset, pk_steps  # noqa: E402
from common.data.transforms import Preprocess  # noqa: E402
from common.train import session  # noqa: E402
from common.train.loop import fit  # noqa: E402
from facenet.src.model import TripletNet, build_backbone, build_loss  # noqa: E402

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "facenet_vggface2.yaml")


def pk_data(cfg, preprocess, rank, world):
    """Training set -> (labels, classes, dataset_fn, steps_per_epoch, bad-image record) in P x K batches."""
    paths, labels, classes = load_training_set(cfg.get("train_root"), cfg.get("train_list"))
    if cfg.get("num_classes") and int(cfg.num_classes) != len(classes):
        raise SystemExit(f"error: config num_classes={cfg.num_classes} but the training data "
                         f"({cfg.get('train_list') or cfg.get('train_root')}) has {len(classes)} identities")
    P, K = int(cfg.classes_per_batch), int(cfg.images_per_class)
    if P < 2 or K < 2:
        raise SystemExit(f"error: {cfg.config}: triplets need classes_per_batch >= 2 and images_per_class >= 2, "
                         f"got {P} x {K}")
    steps = pk_steps(labels, P, K, world)
    if steps == 0:
        raise SystemExit(f"error: {cfg.get('train_list') or cfg.get('train_root')}: {len(set(labels))} identities "
                         f"cannot fill one batch of classes_per_batch={P} on {world} rank(s)")
    bad = BadImages()

    def dataset_fn(epoch, skip):
        return build_pk_epoch_dataset(paths, labels, preprocess, P, K, epoch, cfg.get("seed", 0), rank, world,
                                      skip, cfg.get("workers", 2), bad)

    return labels, classes, dataset_fn, steps, bad


def main(argv=None):
    cfg = load_config(DEFAULT_CONFIG, argv)
    cfg.batch_size = int(cfg.classes_per_batch) * int(cfg.images_per_class)  # images per step, for progress
    rank, world, log = session.start(cfg)
    pre = Preprocess.from_config(cfg.preprocess)
    labels, classes, dataset_fn, steps, bad = pk_data(cfg, pre, rank, world)
    backbone = build_backbone(cfg)
    log(f"{cfg.model}: {len(labels)} images, {len(classes)} identities, {steps} steps/epoch of "
        f"{cfg.classes_per_batch} x {cfg.images_per_class} on rank {rank}/{world}; "
        f"triplet margin {cfg.margin}, {cfg.mining} mining")
    result = fit(cfg, TripletNet(backbone, build_loss(cfg)), backbone.trainable_params(), dataset_fn, steps,
                 len(classes), amp_cells=[backbone], rank=rank, world=world, printer=log)
    session.report(log, result, bad)
    return result


if __name__ == "__main__":
    main()
