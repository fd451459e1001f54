"""Train LightCNN-9/29/29v2 with softmax on identity folders or a list file.

    python lightcnn/train.py --train_root DATA/train [--config lightcnn/configs/lightcnn9.yaml] [--key value ...]
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common.env  # noqa: E402,F401  (CPU speed default before mindspore loads)

from mindspore import nn  # noqa: E402

from common.config import load_config  # noqa: E402
from common.data.transforms import Preprocess  # noqa: E402
from common.train import session  # noqa: E402
from common.train.loop import fit  # noqa: E402
from lightcnn.src.model import build_classifier, build_loss  # noqa: E402

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "lightcnn9.yaml")


def main(argv=None):
    cfg = load_config(DEFAULT_CONFIG, argv)
    rank, world, log = session.start(cfg)
    pre = Preprocess.from_config(cfg.preprocess)
    labels, classes, dataset_fn, steps, bad = session.image_classification_data(cfg, pre, rank, world)
    net = build_classifier(cfg, len(classes))
    log(f"{cfg.model}: {len(labels)} images, {len(classes)} identities, {steps} steps/epoch on rank {rank}/{world}")
    result = fit(cfg, nn.WithLossCell(net, build_loss()), net.trainable_params(), dataset_fn, steps, len(classes),
                 amp_cells=[net.backbone], rank=rank, world=world, printer=log)
    session.report(log, result, bad)
    return result


if __name__ == "__main__":
    main()
