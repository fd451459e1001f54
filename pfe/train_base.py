"""Train the PFE base model: SphereNet-64 + CosFace head (for users without a pretrained base).

    python pfe/train_base.py --train_root CASIA_DIR [--config pfe/configs/base_sphere64_cosface.yaml] [--key value ...]

The flow is common/margin_model.py's (the CosFace one); the checkpoint it writes is pfe/train.py's --base_ckpt
(only its backbone.* weights are used there).
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import common.env  # noqa: E402,F401  (CPU speed default before mindspore loads)

from common.margin_model import train  # noqa: E402

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "base_sphere64_cosface.yaml")


def main(argv=None):
    result = train(DEFAULT_CONFIG, argv)
    print(f"base checkpoint for pfe/train.py --base_ckpt: {result['checkpoint']}")
    return result


if __name__ == "__main__":
    main()
