"""Train the PFE base model: SphereNet-64 + CosFace head (for users without a pretrained base).

    python pfe/train_base.py --train_root CASIA_DIR [--config pfe/configs/base_sphere64_cosface.yaml] [--key value ...]

The checkpoint it writes is pfe/train.py's --base_ckpt (only the backbone is used there).
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common.env  # noqa: E402,F401  (CPU speed default before mindspore loads)

from common.config import load_config  # noqa: E402
from common.data.transforms import Preprocess  # noqa: E402
from common.train import session  # noqa: E402
from common.train.loop import fit  # noqa: E402
from pfe.src.model import build_base  # noqa: E402

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "base_sphere64_cosface.yaml")


def main(argv=None):
    cfg = load_config(DEFAULT_CONFIG, argv)
    rank, world, log = session.start(cfg)
    pre = Preprocess.from_config(cfg.preprocess)
    labels, classes, dataset_fn, steps, bad = session.image_classification_data(cfg, pre, rank, world)
    net_with_loss, backbone = build_base(cfg, len(classes))
    log(f"{cfg.backbone} + {cfg.head}: {len(labels)} images, {len(classes)} identities, "
        f"{steps} steps/epoch on rank {rank}/{world}")
    result = fit(cfg, net_with_loss, net_with_loss.trainable_params(), dataset_fn, steps, len(classes),
                 amp_cells=[backbone], rank=rank, world=world,
                 lr_scale=world if cfg.get("lr_scale_with_world") else 1.0, printer=log)
    log(f"base training done: final loss {result['loss']:.4f}, checkpoint {result['checkpoint']} "
        f"(pass it to pfe/train.py as --base_ckpt), {len(bad)} undecodable image(s) skipped")
    return result


if __name__ == "__main__":
    main()
